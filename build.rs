//! Builds the guest plugins (WebAssembly components) before the host is compiled.
//!
//! * The default analyzers, every crate directory under `plugins/` except `plugins/kit`
//!   (package `ecr-plugin-<dir>`), are embedded into the host binary: `$OUT_DIR/builtin_plugins.rs`
//!   defines `BUILTIN_PLUGINS: &[(&str, &[u8])]` as (directory name, component bytes).
//! * The hostile test guests under `tests/guests/` (package `ecr-test-guest-<dir>`) are only
//!   built: `$OUT_DIR/test_guests.rs` defines `TEST_GUESTS: &[(&str, &str)]` as (directory name,
//!   absolute path of the `.wasm`) for the integration tests, and `BUILTIN_PLUGIN_FILES` the
//!   same for the default analyzers (tests drop them into a plugins directory as a user would).
//!
//! All of them are built by ONE nested `cargo build --profile plugin --target wasm32-wasip2` with
//! its own target directory, `<target dir>/guests`, shared by debug, release and test builds of the
//! host. The nested cargo joins the outer cargo's jobserver (`CARGO_MAKEFLAGS` is kept), so it does
//! not oversubscribe the machine.

use std::env;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const GUEST_TARGET: &str = "wasm32-wasip2";
const GUEST_PROFILE: &str = "plugin";

/// Environment the outer cargo (or the user, for the outer build) set that must not reach the
/// nested guest build: host rustflags and wrappers (clippy, coverage, sccache built for the host),
/// target/target-dir overrides, and profile overrides meant for the host's profiles.
const CLEARED_ENV: &[&str] = &[
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_BUILD_RUSTC_WRAPPER",
    "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_BUILD_DEP_INFO_BASEDIR",
];
/// Prefixes of variables cleared for the same reason (`__CARGO_FIX_PLZ` and friends come from
/// `cargo fix` / `clippy --fix`, `CLIPPY_*` from clippy).
const CLEARED_ENV_PREFIXES: &[&str] = &["CARGO_PROFILE_", "__CARGO", "CLIPPY_"];

fn main() {
    let root = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    for watched in ["plugins", "tests/guests", "wit", "Cargo.lock", "Cargo.toml"] {
        println!("cargo:rerun-if-changed={watched}");
    }
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");

    let builtins = crate_dirs(&root.join("plugins"), |name| name != "kit");
    let test_guests = crate_dirs(&root.join("tests/guests"), |_| true);
    let packages: Vec<String> = builtins
        .iter()
        .map(|dir| format!("ecr-plugin-{dir}"))
        .chain(test_guests.iter().map(|dir| format!("ecr-test-guest-{dir}")))
        .collect();

    // The same directory `cargo` uses for the host (CARGO_TARGET_DIR or `<workspace>/target`);
    // relative CARGO_TARGET_DIR is taken from the workspace root, where cargo is normally run.
    let target_dir = env::var_os("CARGO_TARGET_DIR").map(|dir| root.join(dir)).unwrap_or_else(|| root.join("target"));
    let guest_dir = target_dir.join("guests");
    let artifacts = guest_dir.join(GUEST_TARGET).join(GUEST_PROFILE);

    if !packages.is_empty() {
        let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
        require_guest_target(&rustc);
        build_guests(&root, &guest_dir, &packages);
    }

    let artifact = |prefix: &str, dir: &str| {
        let path = artifacts.join(format!("{prefix}{}.wasm", dir.replace('-', "_")));
        if !path.is_file() {
            fail(&format!("the guest build finished but {} is missing", path.display()));
        }
        path.to_str().unwrap_or_else(|| fail(&format!("non-UTF-8 path {}", path.display()))).to_owned()
    };

    let mut builtin_files_rs = String::from(
        "/// The default analyzers' component files: (directory name, path of the component).\n\
         pub const BUILTIN_PLUGIN_FILES: &[(&str, &str)] = &[\n",
    );
    let mut builtin_rs = String::from(
        "/// Default analyzers built from `plugins/*` by build.rs: (directory name, component).\n\
         pub static BUILTIN_PLUGINS: &[(&str, &[u8])] = &[\n",
    );
    for dir in &builtins {
        let path = artifact("ecr_plugin_", dir);
        writeln!(builtin_rs, "    ({dir:?}, include_bytes!({path:?})),").unwrap();
        writeln!(builtin_files_rs, "    ({dir:?}, {path:?}),").unwrap();
    }
    builtin_rs.push_str("];\n");
    builtin_files_rs.push_str("];\n");
    write_if_changed(&out_dir.join("builtin_plugins.rs"), &builtin_rs);

    let mut tests_rs = String::from(
        "/// Test guests built from `tests/guests/*` by build.rs: (directory name, path of the \
         component).\n\
         pub const TEST_GUESTS: &[(&str, &str)] = &[\n",
    );
    for dir in &test_guests {
        let path = artifact("ecr_test_guest_", dir);
        writeln!(tests_rs, "    ({dir:?}, {path:?}),").unwrap();
    }
    tests_rs.push_str("];\n");
    tests_rs.push_str(&builtin_files_rs);
    write_if_changed(&out_dir.join("test_guests.rs"), &tests_rs);
}

/// Names of the subdirectories of `parent` that hold a crate (a `Cargo.toml`), sorted; none if
/// `parent` does not exist.
fn crate_dirs(parent: &Path, keep: impl Fn(&str) -> bool) -> Vec<String> {
    let entries = match fs::read_dir(parent) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Vec::new(),
        Err(error) => fail(&format!("cannot list {}: {error}", parent.display())),
    };
    let mut dirs: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.path().join("Cargo.toml").is_file())
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| keep(name))
        .collect();
    dirs.sort();
    dirs
}

/// Fails with the fix if the toolchain has no standard library for the guest target.
fn require_guest_target(rustc: &OsString) {
    let output = Command::new(rustc)
        .args(["--print", "target-libdir", "--target", GUEST_TARGET])
        .output()
        .unwrap_or_else(|error| fail(&format!("cannot run {}: {error}", rustc.display())));
    let libdir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    let has_std = fs::read_dir(&libdir).is_ok_and(|entries| {
        entries.filter_map(Result::ok).any(|entry| entry.file_name().to_string_lossy().starts_with("libstd-"))
    });
    if !output.status.success() || !has_std {
        fail(&format!(
            "the Rust target {GUEST_TARGET} is not installed; the analyzer plugins are built for \
             it. Install it with:\n\n    rustup target add {GUEST_TARGET}\n"
        ));
    }
}

fn build_guests(root: &Path, guest_dir: &Path, packages: &[String]) {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .arg("build")
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .args(["--profile", GUEST_PROFILE, "--target", GUEST_TARGET])
        .arg("--target-dir")
        .arg(guest_dir);
    for package in packages {
        command.args(["-p", package]);
    }
    for (key, _) in env::vars_os() {
        let key_str = key.to_string_lossy();
        if CLEARED_ENV.contains(&key_str.as_ref()) || CLEARED_ENV_PREFIXES.iter().any(|p| key_str.starts_with(p)) {
            command.env_remove(&key);
        }
    }
    // The outer cargo holds the lock on its build directory while this script runs; a
    // `build.build-dir` from a config file would point the nested cargo at the same directory and
    // deadlock, so pin it (an env override beats config files).
    command
        .env("CARGO_BUILD_BUILD_DIR", guest_dir)
        // Nested cargo's stdout could contain `cargo:` lines the outer cargo would interpret.
        .stdout(Stdio::from(io::stderr()));
    let status =
        command.status().unwrap_or_else(|error| fail(&format!("cannot run cargo for the guest plugins: {error}")));
    if !status.success() {
        fail(&format!(
            "building the guest plugins ({}) for {GUEST_TARGET} failed; see the cargo output above",
            packages.join(", ")
        ));
    }
}

/// Leaves the file (and its mtime) alone when the content is unchanged.
fn write_if_changed(path: &Path, content: &str) {
    if fs::read_to_string(path).is_ok_and(|old| old == content) {
        return;
    }
    fs::write(path, content).unwrap_or_else(|error| fail(&format!("cannot write {}: {error}", path.display())));
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1)
}
