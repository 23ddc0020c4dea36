//! Build-script helper shared by `crates/builtin-plugins` and `crates/test-guests`: builds guest
//! crates (WebAssembly components) with a nested `cargo build --profile plugin --target
//! wasm32-wasip2` and tells the outer cargo to rerun the build script only when a file the
//! guests were built from changes.
//!
//! The nested cargo uses its own target directory, `<target dir>/guests`, shared by debug,
//! release and test builds of the host. It joins the outer cargo's jobserver (`CARGO_MAKEFLAGS` is
//! kept), so it does not oversubscribe the machine. Change detection reads the dep-info (`.d`)
//! file cargo writes next to each artifact: every source file of the guest and of its path
//! dependencies (the plugin kit) and the WIT files it includes, so touching one plugin reruns the
//! build script of the crate that embeds it, and nothing else does.

use std::env;
use std::ffi::OsString;
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

/// One built guest crate.
pub struct Guest {
    /// Its directory name, e.g. `dpkg` for `plugins/dpkg`.
    pub dir: String,
    /// Absolute path of the built component.
    pub wasm: PathBuf,
}

/// The workspace root, for a build script of a crate in `crates/<name>`.
pub fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    manifest_dir
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|error| fail(&format!("cannot find the workspace root: {error}")))
}

/// Builds every crate directory under `<workspace root>/<parent>` that `keep` accepts (package
/// `<package_prefix><dir>`) and returns them, sorted by directory name. Emits the
/// `cargo:rerun-if-changed` lines for their sources.
pub fn build(parent: &str, package_prefix: &str, keep: impl Fn(&str) -> bool) -> Vec<Guest> {
    let root = workspace_root();
    // The workspace manifest and lock file decide the guests' dependencies and profile (a new
    // plugin directory is a new workspace member, which changes Cargo.lock); the crate's own
    // manifest is watched for the same reason.
    for watched in ["Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");

    let dirs = crate_dirs(&root.join(parent), keep);
    if dirs.is_empty() {
        return Vec::new();
    }
    // The same directory `cargo` uses for the host (CARGO_TARGET_DIR or `<workspace>/target`);
    // relative CARGO_TARGET_DIR is taken from the workspace root, where cargo is normally run.
    let target_dir = env::var_os("CARGO_TARGET_DIR").map(|dir| root.join(dir)).unwrap_or_else(|| root.join("target"));
    let guest_dir = target_dir.join("guests");
    let artifacts = guest_dir.join(GUEST_TARGET).join(GUEST_PROFILE);
    let packages: Vec<String> = dirs.iter().map(|dir| format!("{package_prefix}{dir}")).collect();

    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    require_guest_target(&rustc);
    run_cargo(&root, &guest_dir, &packages);

    dirs.into_iter()
        .zip(packages)
        .map(|(dir, package)| {
            println!("cargo:rerun-if-changed={}", root.join(parent).join(&dir).join("Cargo.toml").display());
            let stem = package.replace('-', "_");
            let wasm = artifacts.join(format!("{stem}.wasm"));
            if !wasm.is_file() {
                fail(&format!("the guest build finished but {} is missing", wasm.display()));
            }
            for source in dep_info_sources(&artifacts.join(format!("{stem}.d")), &root) {
                println!("cargo:rerun-if-changed={}", source.display());
            }
            Guest { dir, wasm }
        })
        .collect()
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

/// The files a dep-info file (`target: dep dep ...`, Makefile syntax with `\ ` for a space in a
/// path) lists as the artifact's inputs. Relative paths (a `build.dep-info-basedir` set in a
/// config file) are taken from the workspace root.
fn dep_info_sources(dep_info: &Path, root: &Path) -> Vec<PathBuf> {
    let text = fs::read_to_string(dep_info)
        .unwrap_or_else(|error| fail(&format!("cannot read the guest's dep-info {}: {error}", dep_info.display())));
    // The first line is the artifact's rule; the dependencies it lists end at the line's end.
    let Some((_, deps)) = text.lines().next().and_then(|line| line.split_once(": ")) else {
        fail(&format!("{} is not a dep-info file", dep_info.display()));
    };
    let mut sources = Vec::new();
    let mut current = String::new();
    let mut chars = deps.chars();
    while let Some(char) = chars.next() {
        match char {
            '\\' => current.extend(chars.next()),
            ' ' => sources.push(std::mem::take(&mut current)),
            _ => current.push(char),
        }
    }
    sources.push(current);
    sources.into_iter().filter(|path| !path.is_empty()).map(|path| root.join(path)).collect()
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

fn run_cargo(root: &Path, guest_dir: &Path, packages: &[String]) {
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

/// Writes `content` to `path`, leaving the file (and its mtime) alone when it is unchanged.
pub fn write_if_changed(path: &Path, content: &[u8]) {
    if fs::read(path).is_ok_and(|old| old == content) {
        return;
    }
    fs::write(path, content).unwrap_or_else(|error| fail(&format!("cannot write {}: {error}", path.display())));
}

/// Stops the build script with `message`.
pub fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dep_info_lists_the_inputs_with_escaped_spaces() {
        let dir = tempfile::tempdir().unwrap();
        let dep_info = dir.path().join("a.d");
        fs::write(&dep_info, "/t/a.wasm: /src/lib.rs /my\\ dir/b.rs rel/c.rs\n\n/src/lib.rs:\n").unwrap();
        let sources = dep_info_sources(&dep_info, Path::new("/root"));
        let expected: Vec<PathBuf> =
            ["/src/lib.rs", "/my dir/b.rs", "/root/rel/c.rs"].iter().map(PathBuf::from).collect();
        assert_eq!(sources, expected);
    }
}
