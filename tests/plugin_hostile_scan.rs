//! The sandbox proof at the level a user sees it: every hostile test guest (infinite loop,
//! unbounded allocation, deep recursion, a gigantic result, attempts to read host files, the
//! environment, the clock and the network, a panic, a trap, an error) dropped into the plugins
//! directory of a real scan with the real binary and the default limits. Each ends with its
//! status and a clear message in the report, the built-in analyzers' findings are intact, the
//! scan ends in bounded time, and the host's peak memory (measured by `/usr/bin/time`) stays
//! bounded.

mod common;

use common::cli;
use common::image::*;
use serde_json::Value;

use ecr_test_guests::TEST_GUESTS;

const HOSTILE: &[&str] = &["deep-recursion", "fail", "flood", "hog", "panic", "snoop", "spin", "trap"];

fn debian_image(dir: &std::path::Path) {
    let status = [("bash", "5.2.15-2+b2"), ("zlib1g", "1:1.2.13.dfsg-1")]
        .map(|(name, version)| dpkg_status_stanza(name, version, "amd64", None, "install ok installed"))
        .concat();
    let spec = ImageSpec::new(vec![Layer::gzip(vec![
        Entry::file("etc/os-release", os_release("debian", "12", "Debian GNU/Linux 12 (bookworm)")),
        Entry::file("var/lib/dpkg/status", status),
    ])]);
    write_oci_layout(&[(&spec, None)], dir, false);
}

/// Runs a scan under `/usr/bin/time -v`: (exit code, report, stderr, peak RSS in MiB, seconds).
fn timed_scan(target: &str, plugins_dir: &std::path::Path) -> (i32, Value, String, u64, f64) {
    let mut command = cli::command();
    command.args(["scan", target, "--format", "json", "--plugins-dir"]).arg(plugins_dir);
    let measured = cli::run_measured(&command);
    (measured.code, measured.report(), measured.stderr.clone(), measured.peak_rss_mib, measured.seconds)
}

fn plugin<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["plugins"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("{name}"))
}

#[test]
fn hostile_plugins_end_within_limits_and_host_memory_stays_bounded() {
    let image = tempfile::tempdir().unwrap();
    debian_image(image.path());
    let target = cli::target("oci", image.path());

    let empty = tempfile::tempdir().unwrap();
    let (code, baseline, stderr, baseline_mib, _) = timed_scan(&target, empty.path());
    assert_eq!(code, 0, "{stderr}");

    let plugins = tempfile::tempdir().unwrap();
    for (name, path) in TEST_GUESTS.iter().filter(|(name, _)| HOSTILE.contains(name)) {
        std::fs::copy(path, plugins.path().join(format!("{name}.wasm"))).unwrap();
    }
    let (code, report, stderr, peak_mib, seconds) = timed_scan(&target, plugins.path());
    eprintln!("peak RSS: {peak_mib} MiB with the hostile plugins, {baseline_mib} MiB without; {seconds:.1} s");
    assert_eq!(code, 3, "an incomplete report: {stderr}");
    assert_eq!(report["complete"], false);

    let status = |name: &str| {
        (
            plugin(&report, name)["status"].as_str().unwrap().to_string(),
            plugin(&report, name)["error"].as_str().unwrap_or("").to_string(),
        )
    };
    let expect = [
        ("spin", "timeout", "exceeded the CPU time limit of 10.0 s"),
        ("hog", "out-of-memory", "exceeded the memory limit of 256.0 MiB"),
        ("flood", "out-of-memory", "returned more data than the limit of 64.0 MiB a plugin may return from one call"),
        ("deep-recursion", "trap", "stack"),
        ("panic", "trap", "ECR-TEST-PANIC: the panic guest gave up after 0 files"),
        ("trap", "trap", "unreachable"),
        ("fail", "error", "returned an error: fail guest: database format not recognised"),
    ];
    for (name, want_status, want_message) in expect {
        let (got_status, message) = status(name);
        assert_eq!(got_status, want_status, "{name}: {message}");
        assert!(message.contains(want_message), "{name}: {message}");
        let error = format!("plugin {name}: ");
        assert!(report["errors"].as_array().unwrap().iter().any(|e| e.as_str().unwrap().starts_with(&error)), "{name}");
    }
    // snoop ran to the end and saw nothing of the host.
    assert_eq!(status("snoop").0, "ok");
    let probes: Vec<(&str, &str)> = report["issues"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["plugin"] == "snoop")
        .map(|i| (i["id"].as_str().unwrap(), i["description"].as_str().unwrap()))
        .collect();
    for id in ["SNOOP-FS-PASSWD", "SNOOP-FS-ROOT", "SNOOP-ENV", "SNOOP-NET-TCP", "SNOOP-NET-DNS"] {
        let (_, description) = probes.iter().find(|(probe, _)| *probe == id).unwrap_or_else(|| panic!("{id}"));
        assert!(description.starts_with("denied: "), "{id}: {description}");
    }
    let wall = probes.iter().find(|(id, _)| *id == "SNOOP-CLOCK-WALL").unwrap().1;
    assert_eq!(wall, "nanos since epoch: ok: 0");

    // The built-in analyzers' findings are exactly those of the scan without hostile plugins.
    assert_eq!(report["packages"], baseline["packages"]);
    assert_eq!(report["image"]["os"], baseline["image"]["os"]);
    let dpkg: Vec<&str> = report["packages"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(dpkg, ["bash", "zlib1g"]);

    // Bounded time: the slowest plugin is stopped once it used its 10 s of CPU time, or at the
    // 40 s wall-clock backstop on a machine too busy to give it that.
    assert!(seconds < 60.0, "the scan took {seconds:.1} s");
    let spin = plugin(&report, "spin");
    assert!(spin["cpu_ms"].as_u64().unwrap() >= 10_000, "{spin}");
    // Bounded memory: what the limits allow, on top of the scan without hostile plugins: per
    // plugin running at once (one per core) its 256 MiB memory cap and at most the 64 MiB
    // result cap of lifted data, plus slack for the compiled code.
    let at_once = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let bound = baseline_mib + at_once * (256 + 64) + 128;
    assert!(peak_mib < bound, "peak RSS {peak_mib} MiB, bound {bound} MiB (baseline {baseline_mib} MiB)");
}
