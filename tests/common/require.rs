//! What a test needs from outside the repository: a tool (skopeo, rpm, npm, a virtualenv from
//! PyPI...) or a real-world fixture file. Every test that can be without one asks here, so the
//! rule is kept in one place: with `CI=true` a missing tool or fixture fails the test, naming
//! what is missing and how to get it (CI installs everything: `scripts/test`); elsewhere the test
//! is skipped and a `SKIP:` line says why, so a run never reports `ok` having checked nothing
//! without saying so.
//!
//! The plugin crates' unit tests include this file too (`#[path]`), so it uses std only.

use std::fmt::Display;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What `scripts/test` installs; the hint for every missing tool.
const INSTALLED_BY: &str = "scripts/test installs it";

/// The environment variable naming the directory of the real-world fixtures.
pub const FIXTURES_VAR: &str = "ECR_ENGINE_FIXTURES";

/// `needed`'s value, or `None` once the test has been marked skipped (outside CI) with `why` and
/// `how_to_get`. Under `CI=true` it panics instead.
pub fn require<T, E: Display>(needed: Result<T, E>, how_to_get: &str) -> Option<T> {
    match needed {
        Ok(value) => Some(value),
        Err(why) => {
            let message = format!("{why}; {how_to_get}");
            if in_ci() {
                panic!("required under CI=true: {message}");
            }
            // Straight to the process's stderr: the test harness captures `eprintln!` of a passing
            // test, and this line must show.
            let _ = writeln!(std::io::stderr(), "SKIP: {message}");
            None
        }
    }
}

/// Whether `program args...` runs and succeeds (e.g. `skopeo --version`); `package` is the
/// Debian package that brings it.
pub fn require_tool(program: &str, args: &[&str], package: &str) -> bool {
    let run =
        Command::new(program).args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status();
    let found = match run {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!("`{program} {}` failed ({status})", args.join(" "))),
        Err(e) => Err(format!("`{program}` cannot run ({e})")),
    };
    require(found, &format!("install the Debian package {package} ({INSTALLED_BY})")).is_some()
}

/// The bytes of a real-world fixture file, `rel` under the fixtures directory.
pub fn require_fixture(rel: &str) -> Option<Vec<u8>> {
    let path = fixtures_dir().join(rel);
    let read = std::fs::read(&path).map_err(|e| format!("fixture {} cannot be read ({e})", path.display()));
    require(read, &format!("set {FIXTURES_VAR} to the fixtures directory (docs/testing.md lists the files)"))
}

/// The real-world fixtures (package databases and version vectors from other projects' test
/// data, listed with their sources in docs/testing.md). They are kept outside the repository:
/// `$ECR_ENGINE_FIXTURES`, else `shared/fixtures` beside the checkout, where this project's
/// machines have them.
pub fn fixtures_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(FIXTURES_VAR) {
        return PathBuf::from(dir);
    }
    // The including crate may be the root package or a plugin: find the checkout by its lockfile.
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let checkout = manifest_dir.ancestors().find(|dir| dir.join("Cargo.lock").is_file()).unwrap_or(manifest_dir);
    checkout.join("../shared/fixtures")
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}
