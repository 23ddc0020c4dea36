//! Runs the real `ecr-engine` binary the way a user does, and reads its JSON report.

use super::image::{BuiltImage, ImageSpec, write_oci_layout};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct ScanResult {
    pub code: i32,
    pub report: Value,
    pub stderr: String,
}

impl ScanResult {
    /// `(name, version)` of every package, sorted.
    pub fn packages(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self.report["packages"]
            .as_array()
            .expect("packages array")
            .iter()
            .map(|p| (p["name"].as_str().unwrap().to_string(), p["version"].as_str().unwrap().to_string()))
            .collect();
        out.sort();
        out
    }

    pub fn package(&self, name: &str) -> &Value {
        self.report["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no package {name} in {:#}", self.report["packages"]))
    }

    pub fn plugin(&self, name: &str) -> &Value {
        self.report["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no plugin {name} in {:#}", self.report["plugins"]))
    }

    pub fn errors(&self) -> String {
        self.report["errors"].as_array().map(|e| format!("{e:?}")).unwrap_or_default()
    }

    /// The scan of a two-layer image whose first layer holds package `kept` 1.0 ended incomplete
    /// (exit 3): the first layer read, the second failed with an error containing each of
    /// `needles`, stderr naming "layer 2", and the first layer's package still reported.
    pub fn assert_second_layer_failed(&self, needles: &[&str]) {
        assert_eq!(self.code, 3, "incomplete scan exit code; stderr: {}", self.stderr);
        assert_eq!(self.report["complete"], false);
        assert_eq!(self.packages(), vec![("kept".to_string(), "1.0".to_string())]);
        assert_eq!(self.report["image"]["layers"][0]["status"], "ok");
        assert_eq!(self.report["image"]["layers"][1]["status"], "error");
        let errors = self.errors();
        for needle in needles {
            assert!(errors.contains(needle), "error mentions {needle:?}: {errors}");
        }
        assert!(self.stderr.contains("layer 2"), "stderr names the layer: {}", self.stderr);
    }

    pub fn warnings(&self) -> String {
        self.report["warnings"].as_array().map(|e| format!("{e:?}")).unwrap_or_default()
    }
}

/// Compiled plugins are cached across the tests of one run, as they are for a user.
pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("plugin-cache")
}

/// The binary, with compiled plugins cached for the run and a store of its own (a test that
/// wants a store across commands passes `--db`): tests never touch the user's store, and one
/// test's layer cache or history never reaches another.
pub fn command() -> Command {
    let stores = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("stores");
    std::fs::create_dir_all(&stores).unwrap();
    let store = tempfile::tempdir_in(&stores).unwrap().keep().join("store.db");
    let mut command = Command::new(env!("CARGO_BIN_EXE_ecr-engine"));
    command.env("ECR_ENGINE_CACHE_DIR", cache_dir()).env("ECR_ENGINE_DB", store).env_remove("ECR_ENGINE_PLUGINS_DIR");
    command
}

/// `ecr-engine scan TARGET --format json` with an empty plugins directory (only the built-in
/// analyzers) unless `extra` names another.
pub fn scan(target: &str, extra: &[&str]) -> ScanResult {
    run_scan(command(), target, extra)
}

/// `scan` with a command the caller prepared (e.g. with extra environment).
pub fn run_scan(mut command: Command, target: &str, extra: &[&str]) -> ScanResult {
    let empty_plugins = tempfile::tempdir().unwrap();
    command.arg("scan").arg(target).args(["--format", "json"]);
    if !extra.contains(&"--plugins-dir") {
        command.arg("--plugins-dir").arg(empty_plugins.path());
    }
    let output = command.args(extra).output().expect("run ecr-engine");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let code = output.status.code().expect("exit code");
    let report = if output.stdout.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("report is not JSON ({e}); stderr: {stderr}"))
    };
    ScanResult { code, report, stderr }
}

/// What a command measured under `/usr/bin/time -v` did.
pub struct Measured {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
    /// Peak resident set size of the process, in MiB.
    pub peak_rss_mib: u64,
    pub seconds: f64,
}

impl Measured {
    /// The JSON report on stdout (panics with stderr when there is none).
    pub fn report(&self) -> Value {
        serde_json::from_slice(&self.stdout)
            .unwrap_or_else(|e| panic!("report is not JSON ({e}); stderr: {}", self.stderr))
    }
}

/// Runs `command` (e.g. from [`command`], with its arguments) under `/usr/bin/time -v`, which
/// measures the real binary's peak memory: how the hostile-input tests bound what the input costs.
pub fn run_measured(command: &Command) -> Measured {
    let time_report = tempfile::NamedTempFile::new().unwrap();
    let mut timed = wrapped("/usr/bin/time", command);
    timed.arg("-v").arg("-o").arg(time_report.path()).arg(command.get_program()).args(command.get_args());
    let started = std::time::Instant::now();
    let output = timed.output().expect("/usr/bin/time is needed for this test (scripts/test installs `time`)");
    let seconds = started.elapsed().as_secs_f64();
    let time = std::fs::read_to_string(time_report.path()).unwrap();
    let kib: u64 = time
        .lines()
        .find_map(|line| line.trim().strip_prefix("Maximum resident set size (kbytes): "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS in {time}"));
    Measured {
        code: output.status.code().unwrap_or(-1),
        stdout: output.stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        peak_rss_mib: kib / 1024,
        seconds,
    }
}

/// `program`, with `command`'s environment and directory: a wrapper to be given `command` to run.
pub fn wrapped(program: &str, command: &Command) -> Command {
    let mut wrapper = Command::new(program);
    wrapper.envs(command.get_envs().filter_map(|(key, value)| Some((key, value?))));
    for removed in command.get_envs().filter(|(_, value)| value.is_none()) {
        wrapper.env_remove(removed.0);
    }
    if let Some(dir) = command.get_current_dir() {
        wrapper.current_dir(dir);
    }
    wrapper
}

/// How long a command under [`with_deadline`] may run.
pub const DEADLINE_SECONDS: u32 = 60;
/// The exit code of a command [`with_deadline`] killed (`timeout` reports 128 + SIGKILL).
pub const KILLED_AT_DEADLINE: i32 = 137;

/// `command` under coreutils' `timeout`, killed after [`DEADLINE_SECONDS`] (its exit code is
/// then [`KILLED_AT_DEADLINE`]): a regression that hangs fails its test instead of the suite.
/// Arguments added later go to `command`'s program.
pub fn with_deadline(command: &Command) -> Command {
    let mut limited = wrapped("timeout", command);
    // --foreground: only the command is killed; without it `timeout` kills its whole process
    // group, itself included, and then reports no exit code at all.
    limited
        .args(["--foreground", "--signal=KILL", &DEADLINE_SECONDS.to_string()])
        .arg(command.get_program())
        .args(command.get_args());
    limited
}

pub fn target(kind: &str, path: &Path) -> String {
    format!("{kind}:{}", path.display())
}

/// Writes `spec` as an OCI layout in a temporary directory and scans it with the default plugins.
pub fn scan_oci(spec: &ImageSpec) -> (ScanResult, BuiltImage) {
    let dir = tempfile::tempdir().unwrap();
    let built = write_oci_layout(&[(spec, None)], dir.path(), false).remove(0);
    (scan(&target("oci", dir.path()), &[]), built)
}
