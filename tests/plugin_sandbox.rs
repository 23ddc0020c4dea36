//! The plugin sandbox against hostile and broken guests (built from tests/guests/* by crates/test-guests):
//! each failure mode gets its own status and a useful message, a well-behaved plugin's findings
//! survive all of them in the same run, and a plugin can observe no file, environment, clock or
//! network.

use ecr_engine::model::{Finding, ImageFile, ImageInfo, Severity};
use ecr_engine::plugin::{
    Compilation, Limits, PluginHost, PluginOptions, PluginRun, PluginSource, RunStatus, describe_plugins,
};
use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;
use tempfile::TempDir;

use ecr_test_guests::TEST_GUESTS;

const LIMITS: Limits = Limits {
    memory_bytes: 64 * 1024 * 1024,
    cpu_time: Duration::from_secs(2),
    max_result_bytes: 1024 * 1024,
    max_file_bytes: 1024 * 1024,
};

fn guest_path(name: &str) -> &'static str {
    TEST_GUESTS
        .iter()
        .find(|(guest, _)| *guest == name)
        .map(|(_, path)| *path)
        .unwrap_or_else(|| panic!("no test guest {name:?} in {TEST_GUESTS:?}"))
}

/// A plugins directory holding the named guests (copied as `<name>.wasm`).
fn plugins_dir(guests: &[&str]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for guest in guests {
        std::fs::copy(guest_path(guest), dir.path().join(format!("{guest}.wasm"))).unwrap();
    }
    dir
}

fn load(plugins: &Path, cache: &Path) -> PluginHost {
    load_with(plugins, cache, LIMITS)
}

fn load_with(plugins: &Path, cache: &Path, limits: Limits) -> PluginHost {
    PluginHost::load(&PluginOptions {
        plugins_dir: Some(plugins.to_owned()),
        builtin: false,
        files: Vec::new(),
        cache_dir: cache.to_owned(),
        limits,
        plugin_limits: BTreeMap::new(),
    })
    .unwrap()
}

fn file(path: &str, content: &[u8]) -> ImageFile {
    ImageFile {
        path: path.into(),
        resolved: path.into(),
        mode: 0o100644,
        layer: "sha256:layer1".into(),
        content: content.to_vec(),
    }
}

/// Files for the echo guest, whose patterns are "etc/os-release", "usr/lib/echo/*.conf" and
/// "**/echo.txt".
fn image_files() -> Vec<ImageFile> {
    vec![
        file("etc/os-release", b"ID=debian\n"),
        file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n"),
        file("usr/lib/echo/a.conf", b"a"),
        file("usr/lib/echo/sub/b.conf", b"bb"),
        file("usr/lib/echo/a.conf.bak", b"ccc"),
        file("echo.txt", b"dddd"),
        file("srv/app/echo.txt", b"eeeee"),
    ]
}

fn image_info(config_json: &str) -> ImageInfo {
    ImageInfo { config_json: config_json.into(), os: "linux".into(), architecture: "amd64".into() }
}

/// What echo must return for [`image_files`]: (package name, version = content length, layer).
fn expected_echo_packages() -> Vec<(String, String, String)> {
    [("echo.txt", 4), ("etc/os-release", 10), ("srv/app/echo.txt", 5), ("usr/lib/echo/a.conf", 1)]
        .into_iter()
        .map(|(path, len)| (path.to_owned(), len.to_string(), "sha256:layer1".to_owned()))
        .collect()
}

fn echo_packages(run: &PluginRun) -> Vec<(String, String, String)> {
    let mut packages: Vec<_> = run
        .findings
        .iter()
        .filter_map(|finding| match finding {
            Finding::Package(package) => {
                assert_eq!(package.ecosystem, "echo");
                assert_eq!(package.path, package.name);
                assert_eq!(package.properties.get("mode").map(String::as_str), Some("100644"));
                Some((package.name.clone(), package.version.clone(), package.properties["layer"].clone()))
            }
            _ => None,
        })
        .collect();
    packages.sort();
    packages
}

fn run_named<'a>(runs: &'a [PluginRun], name: &str) -> &'a PluginRun {
    let matching: Vec<_> = runs.iter().filter(|run| run.name == name).collect();
    assert_eq!(matching.len(), 1, "exactly one run named {name:?} in {runs:#?}");
    matching[0]
}

fn error_of(run: &PluginRun) -> &str {
    run.error.as_deref().unwrap_or_else(|| panic!("{} has no error: {run:#?}", run.name))
}

#[test]
fn every_failure_mode_gets_its_status_and_the_good_plugin_is_intact() {
    let guests = ["deep-recursion", "echo", "fail", "future", "hog", "panic", "spin", "trap"];
    let plugins = plugins_dir(&guests);
    std::fs::write(plugins.path().join("garbage.wasm"), b"this is not webassembly").unwrap();
    std::fs::write(plugins.path().join("notes.txt"), b"not a plugin, must be ignored").unwrap();
    let cache = tempfile::tempdir().unwrap();
    let host = load(plugins.path(), cache.path());

    let loaded: Vec<&str> = host.plugins().iter().map(|plugin| plugin.name.as_str()).collect();
    assert_eq!(loaded, ["deep-recursion", "echo", "fail", "hog", "panic", "spin", "trap"]);
    let failed: Vec<(&str, RunStatus)> =
        host.load_errors().iter().map(|error| (error.name.as_str(), error.status)).collect();
    assert_eq!(failed, [("future", RunStatus::Incompatible), ("garbage", RunStatus::LoadFailed)]);

    let runs = host.analyze(&image_info("{}"), &image_files());
    let names: Vec<&str> = runs.iter().map(|run| run.name.as_str()).collect();
    assert_eq!(names, ["deep-recursion", "echo", "fail", "future", "garbage", "hog", "panic", "spin", "trap"]);

    let echo = run_named(&runs, "echo");
    assert_eq!((echo.status, &echo.error, echo.version.as_str()), (RunStatus::Ok, &None, "2.3.4"));
    assert_eq!(echo_packages(echo), expected_echo_packages());

    let trap = run_named(&runs, "trap");
    assert_eq!(trap.status, RunStatus::Trapped);
    assert!(error_of(trap).contains("unreachable"), "{}", error_of(trap));

    let panic = run_named(&runs, "panic");
    assert_eq!(panic.status, RunStatus::Trapped);
    // The guest's stderr tail carries the panic message (the guest got 0 files: no patterns).
    assert!(error_of(panic).contains("ECR-TEST-PANIC: the panic guest gave up after 0 files"), "{}", error_of(panic));

    let fail = run_named(&runs, "fail");
    assert_eq!(fail.status, RunStatus::Failed);
    assert_eq!(error_of(fail), "returned an error: fail guest: database format not recognised");

    let hog = run_named(&runs, "hog");
    assert_eq!(hog.status, RunStatus::OutOfMemory, "{hog:#?}");
    assert!(error_of(hog).contains("exceeded the memory limit of 64.0 MiB"), "{}", error_of(hog));
    // Rust's allocation-failure message, from the guest's stderr.
    assert!(error_of(hog).contains("memory allocation of"), "{}", error_of(hog));

    let spin = run_named(&runs, "spin");
    assert_eq!(spin.status, RunStatus::TimedOut, "{spin:#?}");
    assert!(error_of(spin).contains("exceeded the CPU time limit of 2.0 s"), "{}", error_of(spin));
    // Stopped once it used its CPU time: not before, and not long after (it is checked every
    // 10 ms; the bound is generous). CPU time of one thread never exceeds the wall time.
    assert!((2000..4000).contains(&spin.cpu_ms), "spin used {} ms of CPU: {spin:#?}", spin.cpu_ms);
    assert!(spin.duration_ms >= spin.cpu_ms, "{spin:#?}");

    let deep = run_named(&runs, "deep-recursion");
    assert_eq!(deep.status, RunStatus::Trapped);
    assert!(error_of(deep).contains("stack"), "{}", error_of(deep));

    let future = run_named(&runs, "future");
    assert_eq!(future.status, RunStatus::Incompatible);
    assert_eq!(future.status.as_str(), "incompatible");
    let message = error_of(future);
    assert!(message.contains("built for contract 2.0.0"), "{message}");
    assert!(message.contains("this host speaks 1.x (up to 1.1.x)"), "{message}");
    assert!(message.contains("rebuild the plugin against wit/"), "{message}");

    let garbage = run_named(&runs, "garbage");
    assert_eq!(garbage.status, RunStatus::LoadFailed);
    assert!(error_of(garbage).contains("not a valid WebAssembly component"), "{}", error_of(garbage));

    for run in &runs {
        if run.status != RunStatus::Ok {
            assert!(run.findings.is_empty(), "{run:#?}");
        }
    }
}

#[test]
fn echo_gets_only_the_files_matching_its_own_patterns() {
    let plugins = plugins_dir(&["echo", "fail"]);
    let cache = tempfile::tempdir().unwrap();
    let host = load(plugins.path(), cache.path());
    assert_eq!(host.patterns(), ["**/echo.txt", "etc/os-release", "usr/lib/echo/*.conf"]);

    let runs = host.analyze(&image_info(r#"{"config":{}}"#), &image_files());
    let echo = run_named(&runs, "echo");
    assert_eq!(echo.status, RunStatus::Ok);
    // `*` stays within a component (no usr/lib/echo/sub/b.conf), and nothing unasked-for.
    assert_eq!(echo_packages(echo), expected_echo_packages());
    let distros: Vec<_> = echo
        .findings
        .iter()
        .filter_map(|finding| match finding {
            Finding::Distro(distro) => {
                Some((distro.id.as_str(), distro.version_id.as_str(), distro.pretty_name.as_deref()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(distros, [("linux", "amd64", Some("config of 13 bytes"))]);

    // State never leaks between calls: a second image gets its own, smaller answer.
    let runs = host.analyze(&image_info("{}"), &[file("echo.txt", b"x")]);
    let echo = run_named(&runs, "echo");
    assert_eq!(echo_packages(echo), [("echo.txt".to_owned(), "1".to_owned(), "sha256:layer1".to_owned())]);
}

#[test]
fn findings_beyond_the_result_limit_are_refused() {
    let plugins = plugins_dir(&["echo"]);
    let cache = tempfile::tempdir().unwrap();
    // Echo returns 5 findings: far over 300 bytes. Lifting them stops at the cap, before the
    // host holds them all (wasmtime's hostcall fuel, set to the result cap).
    let host = load_with(plugins.path(), cache.path(), Limits { max_result_bytes: 300, ..LIMITS });
    let runs = host.analyze(&image_info("{}"), &image_files());
    let echo = run_named(&runs, "echo");
    assert_eq!(echo.status, RunStatus::OutOfMemory);
    assert_eq!(error_of(echo), "returned more data than the limit of 300 bytes a plugin may return from one call");
    assert!(echo.findings.is_empty());

    let host = load_with(plugins.path(), cache.path(), Limits { max_result_bytes: 4096, ..LIMITS });
    let runs = host.analyze(&image_info("{}"), &image_files());
    assert_eq!(echo_packages(run_named(&runs, "echo")), expected_echo_packages());
}

#[test]
fn a_plugin_built_for_the_previous_minor_contract_still_runs() {
    let plugins = plugins_dir(&["legacy", "echo"]);
    let cache = tempfile::tempdir().unwrap();
    let host = load(plugins.path(), cache.path());
    assert!(host.load_errors().is_empty(), "{:?}", host.load_errors());
    let contracts: Vec<(&str, &str)> =
        host.plugins().iter().map(|p| (p.name.as_str(), p.contract_version.as_str())).collect();
    assert_eq!(contracts, [("echo", "1.1.0"), ("legacy", "1.0.0")]);

    let runs = host.analyze(&image_info("{}"), &image_files());
    let legacy = run_named(&runs, "legacy");
    assert_eq!((legacy.status, legacy.version.as_str()), (RunStatus::Ok, "1.0.0"), "{legacy:#?}");
    // Every finding type came through the 1.0 bindings and was converted.
    let mut packages: Vec<(&str, &str, &str, &[String])> = Vec::new();
    let mut issues = Vec::new();
    let mut distros = Vec::new();
    for finding in &legacy.findings {
        match finding {
            Finding::Package(p) => {
                packages.push((p.name.as_str(), p.version.as_str(), p.properties["layer"].as_str(), &p.licenses))
            }
            Finding::Issue(i) => issues.push((i.id.as_str(), i.severity, i.path.as_deref(), i.history_index)),
            Finding::Distro(d) => distros.push((d.id.as_str(), d.version_id.as_str())),
            Finding::FileError(e) => panic!("unexpected file error {e:?}"),
        }
    }
    packages.sort();
    let mit = ["MIT".to_string()];
    assert_eq!(
        packages,
        [
            ("echo.txt", "4", "sha256:layer1", &mit[..]),
            ("etc/os-release", "10", "sha256:layer1", &mit[..]),
            ("srv/app/echo.txt", "5", "sha256:layer1", &mit[..]),
        ]
    );
    assert_eq!(issues, [("LEGACY-001", Severity::High, Some("etc/os-release"), Some(7))]);
    assert_eq!(distros, [("linux", "amd64")]);
    // The current-contract plugin in the same run is unaffected.
    assert_eq!(echo_packages(run_named(&runs, "echo")), expected_echo_packages());
}

#[test]
fn per_plugin_limits_apply_to_that_plugin_only() {
    let plugins = plugins_dir(&["echo", "legacy", "spin"]);
    let cache = tempfile::tempdir().unwrap();
    let small_files = Limits { max_file_bytes: 4, ..LIMITS };
    let host = PluginHost::load(&PluginOptions {
        plugins_dir: Some(plugins.path().to_owned()),
        builtin: false,
        files: Vec::new(),
        cache_dir: cache.path().to_owned(),
        limits: LIMITS,
        plugin_limits: BTreeMap::from([
            ("echo".to_string(), small_files.clone()),
            ("legacy".to_string(), small_files),
            ("spin".to_string(), Limits { cpu_time: Duration::from_millis(300), ..LIMITS }),
        ]),
    })
    .unwrap();
    let listing = describe_plugins(&host);
    assert!(listing.contains("limits: memory 64.0 MiB, CPU time 2.0 s, files up to 4 bytes"), "{listing}");
    assert!(listing.contains("limits: memory 64.0 MiB, CPU time 0.3 s, files up to 1.0 MiB"), "{listing}");

    let runs = host.analyze(&image_info("{}"), &image_files());
    // Echo (contract 1.1) gets bigger files cut to 4 bytes, and their real size.
    let echo = run_named(&runs, "echo");
    let mut seen: Vec<(String, String, String)> = echo
        .findings
        .iter()
        .filter_map(|finding| match finding {
            Finding::Package(p) => Some((p.name.clone(), p.version.clone(), p.properties["size"].clone())),
            _ => None,
        })
        .collect();
    seen.sort();
    let row = |path: &str, given: &str, size: &str| (path.to_string(), given.to_string(), size.to_string());
    assert_eq!(
        seen,
        [
            row("echo.txt", "4", "4"),
            row("etc/os-release", "4", "10"),
            row("srv/app/echo.txt", "4", "5"),
            row("usr/lib/echo/a.conf", "1", "1")
        ]
    );
    assert_eq!(
        echo.warnings,
        [
            "etc/os-release (10 bytes) was given to the plugin cut to its max file size of 4 bytes",
            "srv/app/echo.txt (5 bytes) was given to the plugin cut to its max file size of 4 bytes",
        ]
    );
    // Legacy (contract 1.0) cannot be told a file was cut, so it does not get those files.
    let legacy = run_named(&runs, "legacy");
    let names: Vec<&str> = legacy
        .findings
        .iter()
        .filter_map(|finding| match finding {
            Finding::Package(p) => Some(p.name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(names, ["echo.txt"]);
    assert_eq!(
        legacy.warnings,
        [
            "etc/os-release (10 bytes) was not given to the plugin: larger than its max file size of 4 bytes",
            "srv/app/echo.txt (5 bytes) was not given to the plugin: larger than its max file size of 4 bytes",
        ]
    );
    // Spin has its own CPU time.
    let spin = run_named(&runs, "spin");
    assert_eq!(spin.status, RunStatus::TimedOut);
    assert!(error_of(spin).contains("exceeded the CPU time limit of 0.3 s"), "{}", error_of(spin));
    assert!(spin.cpu_ms >= 300, "spin used {} ms of CPU: {spin:#?}", spin.cpu_ms);
    assert!(spin.duration_ms >= spin.cpu_ms, "{spin:#?}");
}

/// More plugin calls at once than the machine has cores: each waits for a core part of the
/// time, and still gets its whole CPU time limit before it is stopped. (The limit is CPU time;
/// the wall time each took depends on the machine's load and is not asserted.)
#[test]
fn concurrent_calls_each_get_their_whole_cpu_time() {
    let plugins = plugins_dir(&["spin"]);
    let cache = tempfile::tempdir().unwrap();
    let host = load_with(plugins.path(), cache.path(), Limits { cpu_time: Duration::from_millis(400), ..LIMITS });
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let callers = (2 * cores).max(4);
    // The host runs plugins on rayon's pool, one thread per core by default: a pool with a thread
    // per caller makes all the calls run at once.
    let pool = rayon::ThreadPoolBuilder::new().num_threads(callers).build().unwrap();
    let runs: Vec<PluginRun> = std::thread::scope(|scope| {
        let calls: Vec<_> = (0..callers)
            .map(|_| scope.spawn(|| pool.install(|| host.analyze(&image_info("{}"), &image_files()))))
            .collect();
        calls.into_iter().flat_map(|call| call.join().unwrap()).collect()
    });
    assert_eq!(runs.len(), callers);
    for spin in &runs {
        assert_eq!(spin.status, RunStatus::TimedOut, "{spin:#?}");
        assert!(error_of(spin).contains("exceeded the CPU time limit of 0.4 s"), "{}", error_of(spin));
        assert!(spin.cpu_ms >= 400, "spin used {} ms of CPU: {spin:#?}", spin.cpu_ms);
        assert!(spin.duration_ms >= spin.cpu_ms, "{spin:#?}");
    }
}

/// Reads one snoop probe's description by id.
fn probes(run: &PluginRun) -> BTreeMap<String, String> {
    run.findings
        .iter()
        .filter_map(|finding| match finding {
            Finding::Issue(issue) => Some((issue.id.clone(), issue.description.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn snoop_observes_no_file_environment_clock_or_network() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();

    let plugins = plugins_dir(&["snoop"]);
    let cache = tempfile::tempdir().unwrap();
    let host = load(plugins.path(), cache.path());
    let runs = host.analyze(&image_info(&format!(r#"{{"port": {port}}}"#)), &[]);
    let snoop = run_named(&runs, "snoop");
    assert_eq!(snoop.status, RunStatus::Ok, "{snoop:#?}");
    let probes = probes(snoop);
    assert_eq!(probes.len(), 11, "{probes:#?}");

    for id in ["SNOOP-FS-PASSWD", "SNOOP-FS-ROOT", "SNOOP-FS-CWD", "SNOOP-NET-TCP", "SNOOP-NET-DNS"] {
        assert!(probes[id].starts_with("denied: "), "{id}: {}", probes[id]);
    }
    assert_eq!(probes["SNOOP-ENV"], "denied: no environment variables");
    assert_eq!(probes["SNOOP-ARGS"], "denied: no arguments");
    assert_eq!(probes["SNOOP-STDIN"], "denied: stdin is empty");
    assert_eq!(probes["SNOOP-CLOCK-WALL"], "nanos since epoch: ok: 0");
    assert_eq!(probes["SNOOP-CLOCK-MONO"], "elapsed nanos: 0");
    // The guest asked to sleep 30 s: virtual time passes at once and holds no host thread.
    assert_eq!(probes["SNOOP-SLEEP"], "slept nanos: 0");
    assert!(snoop.duration_ms < 10_000, "snoop took {} ms", snoop.duration_ms);

    match listener.accept() {
        Err(error) if error.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the guest reached the host's listener: {other:?}"),
    }
}

#[test]
fn second_load_uses_the_artifact_cache_and_survives_a_damaged_one() {
    let plugins = plugins_dir(&["echo"]);
    let cache = tempfile::tempdir().unwrap();
    let compiled_dir = cache.path().join("compiled");

    let first = load(plugins.path(), cache.path());
    assert_eq!(first.plugins()[0].compilation, Compilation::Compiled);
    let artifacts: Vec<_> = std::fs::read_dir(&compiled_dir).unwrap().map(|entry| entry.unwrap().path()).collect();
    assert_eq!(artifacts.len(), 1, "{artifacts:?}");
    let artifact = &artifacts[0];
    let sha256 = &first.plugins()[0].sha256;
    assert!(artifact.file_name().unwrap().to_str().unwrap().starts_with(&format!("{sha256}-")), "{artifact:?}");
    assert!(artifact.extension().is_some_and(|ext| ext == "cwasm"));

    let second = load(plugins.path(), cache.path());
    let mut expected = first.plugins()[0].clone();
    expected.compilation = Compilation::Cached;
    assert_eq!(second.plugins()[0], expected);
    let runs = second.analyze(&image_info("{}"), &image_files());
    assert_eq!(echo_packages(run_named(&runs, "echo")), expected_echo_packages());

    // A damaged artifact is compiled again and replaced, not fatal. It is damaged in place while
    // hosts that loaded it are alive: they must not depend on the file (no mmap, no SIGBUS).
    std::fs::write(artifact, b"garbage").unwrap();
    let third = load(plugins.path(), cache.path());
    assert_eq!(third.plugins()[0].compilation, Compilation::Compiled);
    assert!(third.load_errors().is_empty(), "{:?}", third.load_errors());
    let fourth = load(plugins.path(), cache.path());
    assert_eq!(fourth.plugins()[0].compilation, Compilation::Cached);
}

#[test]
fn descriptors_say_what_was_loaded_and_duplicates_are_refused() {
    let plugins = plugins_dir(&["echo"]);
    // The same plugin under a second file name: the first by path wins, the other is reported.
    std::fs::copy(guest_path("echo"), plugins.path().join("zz-echo-copy.wasm")).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let host = load(plugins.path(), cache.path());

    let [echo] = host.plugins() else { panic!("{:#?}", host.plugins()) };
    assert_eq!(echo.name, "echo");
    assert_eq!(echo.version, "2.3.4");
    assert_eq!(echo.description, "returns one package per file it receives");
    assert_eq!(echo.contract_version, "1.1.0");
    assert_eq!(echo.source, PluginSource::Path(plugins.path().join("echo.wasm")));
    let wasm = std::fs::read(guest_path("echo")).unwrap();
    assert_eq!(echo.sha256, hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&wasm)));

    let [duplicate] = host.load_errors() else { panic!("{:#?}", host.load_errors()) };
    assert_eq!(duplicate.name, "echo");
    assert_eq!(duplicate.status, RunStatus::LoadFailed);
    assert_eq!(duplicate.source, PluginSource::Path(plugins.path().join("zz-echo-copy.wasm")));
    assert!(duplicate.error.contains("already loaded from"), "{}", duplicate.error);

    let listing = describe_plugins(&host);
    assert!(listing.starts_with("echo 2.3.4 (contract 1.1.0, "), "{listing}");
    assert!(listing.contains("patterns: etc/os-release, usr/lib/echo/*.conf, **/echo.txt"), "{listing}");
    assert!(listing.contains("zz-echo-copy.wasm): load-error: another plugin named"), "{listing}");
}

#[test]
fn components_that_are_not_analyzers_are_load_errors() {
    let plugins = tempfile::tempdir().unwrap();
    // A valid, empty core module and a valid, empty component: neither exports an analyzer.
    std::fs::write(plugins.path().join("core-module.wasm"), b"\0asm\x01\0\0\0").unwrap();
    std::fs::write(plugins.path().join("empty-component.wasm"), b"\0asm\x0d\0\x01\0").unwrap();
    let cache = tempfile::tempdir().unwrap();
    let host = load(plugins.path(), cache.path());
    assert!(host.plugins().is_empty());
    assert!(host.patterns().is_empty());

    let errors: BTreeMap<&str, (RunStatus, &str)> =
        host.load_errors().iter().map(|error| (error.name.as_str(), (error.status, error.error.as_str()))).collect();
    let (status, message) = errors["core-module"];
    assert_eq!(status, RunStatus::LoadFailed);
    assert!(message.starts_with("not a valid WebAssembly component"), "{message}");
    let (status, message) = errors["empty-component"];
    assert_eq!(status, RunStatus::LoadFailed);
    assert!(message.contains("does not export `ecr-engine:plugin/analyzer` (it exports nothing)"), "{message}");

    let runs = host.analyze(&image_info("{}"), &[]);
    let statuses: Vec<(&str, &str)> = runs.iter().map(|run| (run.name.as_str(), run.status.as_str())).collect();
    assert_eq!(statuses, [("core-module", "load-error"), ("empty-component", "load-error")]);
}

#[test]
fn builtin_plugins_are_embedded_and_load_cleanly() {
    let cache = tempfile::tempdir().unwrap();
    let host = PluginHost::load(&PluginOptions {
        plugins_dir: Some(cache.path().join("no-plugins-here")),
        builtin: true,
        files: Vec::new(),
        cache_dir: cache.path().to_owned(),
        limits: LIMITS,
        plugin_limits: BTreeMap::new(),
    })
    .unwrap();
    assert!(host.load_errors().is_empty(), "{:#?}", host.load_errors());
    // plugins/dpkg is one of the default analyzers.
    assert!(host.plugins().iter().any(|plugin| plugin.name == "dpkg"), "{:#?}", host.plugins());
    for plugin in host.plugins() {
        assert_eq!(plugin.source, PluginSource::Builtin);
        assert_eq!(plugin.contract_version, "1.1.0");
        assert!(!plugin.patterns.is_empty(), "{plugin:#?}");
    }
    // An image with nothing to analyze is no reason to fail.
    for run in host.analyze(&image_info("{}"), &[]) {
        assert_eq!(run.status, RunStatus::Ok, "{run:#?}");
    }
}

#[test]
fn missing_plugins_dir_means_no_plugins() {
    let cache = tempfile::tempdir().unwrap();
    let host = load(&cache.path().join("does-not-exist"), cache.path());
    assert!(host.plugins().is_empty());
    assert!(host.load_errors().is_empty());
    assert!(host.analyze(&image_info("{}"), &image_files()).is_empty());
}
