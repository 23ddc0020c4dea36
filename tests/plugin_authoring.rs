//! A plugin author's path with the real binary: `plugins new` makes a crate from the template,
//! `plugins build` compiles it with cargo for wasm32-wasip2 and installs it, `plugins list`
//! shows it with the limits from plugins.toml, and `plugins test` runs it alone on a real
//! image and prints its raw findings.

mod common;

use common::cli;
use common::image::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

fn run(args: &[&str]) -> Output {
    cli::command()
        .args(args)
        // The template's dependencies are built once per target directory; keep it across runs.
        .env("CARGO_TARGET_DIR", Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugin-authoring"))
        // Cargo.lock pins what this workspace already downloaded.
        .env("CARGO_NET_OFFLINE", "true")
        .output()
        .expect("run ecr-engine")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn new_build_list_and_test_a_plugin() {
    let work = tempfile::tempdir().unwrap();
    let crate_dir: PathBuf = work.path().join("demo");
    let plugins = work.path().join("plugins");
    let (crate_arg, plugins_arg) = (crate_dir.to_str().unwrap(), plugins.to_str().unwrap());

    let created = run(&["plugins", "new", "demo-plugin", "--path", crate_arg]);
    assert!(created.status.success(), "{}", text(&created.stderr));
    for file in ["Cargo.toml", "Cargo.lock", "src/lib.rs", "wit/plugin.wit", "vendor/ecr-plugin-kit/src/analyzer.rs"] {
        assert!(crate_dir.join(file).is_file(), "{file} is created");
    }
    let again = run(&["plugins", "new", "demo-plugin", "--path", crate_arg]);
    assert!(!again.status.success() && text(&again.stderr).contains("already exists and is not empty"));

    // The template's own test passes natively, as the author will first run it.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let native = std::process::Command::new(cargo)
        .args(["test", "--quiet", "--manifest-path"])
        .arg(crate_dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugin-authoring"))
        .env("CARGO_NET_OFFLINE", "true")
        .output()
        .unwrap();
    assert!(native.status.success(), "cargo test in the new crate: {}", text(&native.stderr));
    assert!(text(&native.stdout).contains("1 passed"), "{}", text(&native.stdout));

    let built = run(&["plugins", "build", crate_arg, "--plugins-dir", plugins_arg]);
    assert!(built.status.success(), "build failed: {}", text(&built.stderr));
    let installed = plugins.join("demo-plugin.wasm");
    assert!(installed.is_file());
    assert!(text(&built.stdout).contains("installed demo-plugin 0.1.0 (contract 1.1.0) as"), "{}", text(&built.stdout));
    // Rebuilding replaces the installed copy (which must not get in the way of the check).
    let rebuilt = run(&["plugins", "build", crate_arg, "--plugins-dir", plugins_arg]);
    assert!(rebuilt.status.success(), "rebuild failed: {}", text(&rebuilt.stderr));

    // Limits from plugins.toml in the plugins directory.
    std::fs::write(plugins.join("plugins.toml"), "[plugins.demo-plugin]\ncpu-time = 3\nmemory = \"32M\"\n").unwrap();
    let listed = run(&["plugins", "list", "--plugins-dir", plugins_arg, "--no-builtin-plugins"]);
    let listing = text(&listed.stdout);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    assert!(listing.starts_with("demo-plugin 0.1.0 (contract 1.1.0, "), "{listing}");
    assert!(listing.contains("limits: memory 32.0 MiB, CPU time 3.0 s, files up to 128.0 MiB"), "{listing}");
    assert!(listing.contains("patterns: etc/os-release"), "{listing}");

    // A typo in the config is an error naming the key, not a silently ignored setting.
    std::fs::write(plugins.join("plugins.toml"), "[plugins.demo-plugin]\ncpu-tme = 3\n").unwrap();
    let typo = run(&["plugins", "list", "--plugins-dir", plugins_arg]);
    assert_eq!(typo.status.code(), Some(1));
    assert!(text(&typo.stderr).contains("unknown field `cpu-tme`"), "{}", text(&typo.stderr));
    std::fs::remove_file(plugins.join("plugins.toml")).unwrap();

    // `plugins test` by name and by file: the raw run, as JSON.
    let image = tempfile::tempdir().unwrap();
    let spec = ImageSpec::new(vec![Layer::gzip(vec![Entry::file(
        "etc/os-release",
        os_release("debian", "12", "Debian GNU/Linux 12 (bookworm)"),
    )])]);
    write_oci_layout(&[(&spec, None)], image.path(), false);
    let target = cli::target("oci", image.path());
    for plugin in ["demo-plugin", installed.to_str().unwrap()] {
        let tested = run(&["plugins", "test", plugin, &target, "--plugins-dir", plugins_arg]);
        assert!(tested.status.success(), "{}{}", text(&tested.stderr), text(&tested.stdout));
        let runs: Value = serde_json::from_slice(&tested.stdout).unwrap();
        let [run] = runs.as_array().unwrap().as_slice() else { panic!("one run: {runs:#}") };
        assert_eq!((run["name"].as_str(), run["status"].as_str()), (Some("demo-plugin"), Some("ok")), "{run:#}");
        assert_eq!(
            run["findings"],
            serde_json::json!([{"distro": {
                "id": "debian", "version_id": "12", "pretty_name": "Debian GNU/Linux 12 (bookworm)",
                "path": "etc/os-release"
            }}])
        );
    }
    let unknown = run(&["plugins", "test", "no-such-plugin", &target, "--plugins-dir", plugins_arg]);
    assert!(!unknown.status.success());
    assert!(
        text(&unknown.stderr).contains("no plugin \"no-such-plugin\" is loaded; the loaded ones are: apk, config,")
    );
}
