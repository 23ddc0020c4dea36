//! Terminal injection: image content that holds escape sequences (set the window title, clear the
//! screen), carriage returns, line breaks, C1 controls and bidi overrides reaches the terminal only
//! as visible escapes, in the table on stdout and in the messages on stderr of `scan`, `history`,
//! `diff`, `rescan` and `plugins test`; the JSON keeps the exact values.

use crate::common::cli;
use crate::common::image::*;
use crate::common::osv::{import_into, range};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Output;

/// Set the window title, clear the screen, back to the start of the line, reverse what follows
/// (Trojan Source), and a C1 CSI (`ESC [` in one character) setting red.
const NASTY: &str = "\u{1b}]0;pwned\u{7}\u{1b}[2J\r\u{202e}\u{9b}31m";
/// How a terminal must show [`NASTY`].
const NASTY_SHOWN: &str = r"\u{1b}]0;pwned\u{7}\u{1b}[2J\r\u{202e}\u{9b}31m";

/// Every way the image puts [`NASTY`] (and, in file names, a line break) in front of the user.
fn hostile_image() -> ImageSpec {
    let status = format!(
        "Package: evil{NASTY}\nStatus: install ok installed\nArchitecture: amd64{NASTY}\n\
         Source: src\u{1b}]0;pwned\u{7}\nVersion: 1.0{NASTY}\nDescription: d{NASTY}\n more{NASTY}\n\n{}",
        dpkg_status_stanza("bash", "5.2.15-2+b2", "amd64", None, "install ok installed")
    );
    let key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n\
               -----END OPENSSH PRIVATE KEY-----\n";
    ImageSpec::new(vec![Layer::gzip(vec![
        Entry::file(
            "etc/os-release",
            format!("PRETTY_NAME=\"Debian{NASTY} 12\"\nID=\"debian{NASTY}\"\nVERSION_ID=\"12\"\n"),
        ),
        Entry::file("var/lib/dpkg/status", status),
        // Climbs out of the root: skipped with a warning that quotes the name.
        Entry::raw(format!("../climb{NASTY}\nname").into_bytes(), "x", b'0', None),
        // A lockfile npm cannot read: a file error naming its path.
        Entry::file(&format!("srv/app{NASTY}\nx/package-lock.json"), "{ not json"),
        // A private key: an issue with its path.
        Entry::file_mode(&format!("home/u{NASTY}\nx/.ssh/id_ed25519"), key, 0o600),
    ])])
}

/// Nothing in `text` that a terminal acts on: no control character but the line break, no bidi
/// control.
fn assert_inert(what: &str, text: &str) {
    let bidi =
        |c: char| matches!(c, '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    let active: Vec<char> = text.chars().filter(|&c| (c.is_control() && c != '\n') || bidi(c)).collect();
    assert!(active.is_empty(), "{what} holds {active:?}:\n{}", text.escape_debug());
}

/// The one line of `text` that holds `needle` (a line break inside a value must not split it).
fn line_with<'a>(text: &'a str, needle: &str) -> &'a str {
    text.lines().find(|line| line.contains(needle)).unwrap_or_else(|| panic!("no line has {needle:?} in:\n{text}"))
}

fn text(output: &Output) -> (String, String) {
    (String::from_utf8(output.stdout.clone()).unwrap(), String::from_utf8(output.stderr.clone()).unwrap())
}

fn oci(spec: &ImageSpec, dir: &Path) -> String {
    write_oci_layout(&[(spec, None)], dir, false);
    cli::target("oci", dir)
}

#[test]
fn the_scan_table_and_messages_show_escapes_and_the_json_keeps_the_exact_values() {
    let dir = tempfile::tempdir().unwrap();
    let target = oci(&hostile_image(), &dir.path().join("image"));
    let empty_plugins = tempfile::tempdir().unwrap();
    let output = cli::command().args(["scan", &target, "--plugins-dir"]).arg(empty_plugins.path()).output().unwrap();
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(3), "npm could not read the lockfile; stderr: {stderr}");
    assert_inert("the table", &stdout);
    assert_inert("stderr", &stderr);

    // Each value on its own row, shown as it is.
    let row = line_with(&stdout, &format!("evil{NASTY_SHOWN}"));
    assert!(row.contains(&format!("1.0{NASTY_SHOWN}")) && row.contains(&format!("amd64{NASTY_SHOWN}")), "{row}");
    assert!(row.contains(r"src\u{1b}]0;pwned\u{7}"), "{row}");
    assert!(line_with(&stdout, "OS:").contains(&format!("Debian{NASTY_SHOWN} 12")), "{stdout}");
    let issue = line_with(&stdout, "CFG-011");
    assert!(issue.contains(&format!(r"home/u{NASTY_SHOWN}\nx/.ssh/id_ed25519")), "{issue}");
    let warning = line_with(&stdout, "climb");
    assert!(warning.starts_with("warning: ") && warning.contains(&format!(r"climb{NASTY_SHOWN}\nname")), "{warning}");
    let lockfile = format!(r"srv/app{NASTY_SHOWN}\nx/package-lock.json");
    assert!(line_with(&stdout, "error: plugin npm").contains(&lockfile), "{stdout}");
    assert!(line_with(&stderr, "error: plugin npm").contains(&lockfile), "{stderr}");
    assert!(stdout.ends_with("Scan INCOMPLETE: 1 problem(s) above; the results shown are partial.\n"), "{stdout}");

    // The same scan as JSON: the values exactly as the image has them.
    let json = cli::scan(&target, &[]);
    assert_eq!(json.code, 3, "{}", json.stderr);
    assert_inert("stderr", &json.stderr);
    let evil = json.package(&format!("evil{NASTY}"));
    assert_eq!(evil["version"], format!("1.0{NASTY}"));
    assert_eq!(evil["arch"], format!("amd64{NASTY}"));
    assert_eq!(evil["source_name"], "src\u{1b}]0;pwned\u{7}");
    // The analyzers lowercase ID (os-release says it is lowercase); the controls stay.
    assert_eq!(json.report["image"]["os"]["id"], format!("debian{NASTY}").to_ascii_lowercase());
    assert_eq!(json.report["image"]["os"]["pretty_name"], format!("Debian{NASTY} 12"));
    let issue = json.report["issues"].as_array().unwrap().iter().find(|i| i["id"] == "CFG-011").unwrap();
    assert_eq!(issue["path"], format!("home/u{NASTY}\nx/.ssh/id_ed25519"));
    let strings = |key: &str| -> Vec<String> {
        json.report[key].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect()
    };
    let climb = format!("climb{NASTY}\nname");
    assert!(strings("warnings").iter().any(|w| w.contains(&climb)), "{:?}", strings("warnings"));
    let lockfile = format!("srv/app{NASTY}\nx/package-lock.json");
    assert!(strings("errors").iter().any(|e| e.contains(&lockfile)), "{:?}", strings("errors"));
}

#[test]
fn history_diff_and_rescan_show_escapes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    // Advisory data is input too: an id with the same controls.
    let advisory = format!("DEBIAN-CVE-2099-0100{NASTY}");
    let record = json!({"id": advisory, "modified": "2024-01-01T00:00:00Z",
        "affected": [{"package": {"ecosystem": "Debian:12", "name": "bash"},
                      "ranges": range(json!([{"introduced": "0"}, {"fixed": "5.2.21-2"}]))}]});
    import_into(&db, &dir.path().join("osv"), &[record]);
    let clean = ImageSpec::new(vec![Layer::gzip(vec![
        Entry::file("etc/os-release", os_release("debian", "12", "Debian GNU/Linux 12 (bookworm)")),
        Entry::file(
            "var/lib/dpkg/status",
            dpkg_status_stanza("bash", "5.2.15-2+b2", "amd64", None, "install ok installed"),
        ),
    ])]);
    let empty_plugins = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| -> Output {
        let mut command = cli::command();
        command.args(args).arg("--db").arg(&db);
        if args[0] == "scan" {
            command.arg("--plugins-dir").arg(empty_plugins.path());
        }
        command.output().unwrap()
    };
    let evil_tag = format!("app:2{NASTY}");
    // The archive's file name (the target) carries the controls too.
    let evil_archive = dir.path().join(format!("evil{NASTY}.tar"));
    let mut tables = Vec::new();
    for (spec, tag, archive) in
        [(&clean, "app:1", dir.path().join("clean.tar")), (&hostile_image(), &evil_tag, evil_archive)]
    {
        write_docker_archive(spec, &[tag], &archive);
        let scan = run(&["scan", &cli::target("docker-archive", &archive)]);
        let (stdout, stderr) = text(&scan);
        assert!(matches!(scan.status.code(), Some(0 | 3)), "{stderr}");
        assert_inert("the table", &stdout);
        assert_inert("stderr", &stderr);
        tables.push(stdout);
    }
    let vulnerability = line_with(&tables[0], &format!("DEBIAN-CVE-2099-0100{NASTY_SHOWN}"));
    assert!(vulnerability.contains("bash") && vulnerability.contains("5.2.21-2"), "{}", tables[0]);
    assert!(tables[1].starts_with(&format!("Target:    docker-archive:{}", dir.path().display())), "{}", tables[1]);
    assert!(line_with(&tables[1], "Target:").ends_with(&format!("evil{NASTY_SHOWN}.tar")), "{}", tables[1]);

    let history = run(&["history"]);
    let (stdout, stderr) = text(&history);
    assert_eq!(history.status.code(), Some(0), "{stderr}");
    assert_inert("the history", &stdout);
    assert!(line_with(&stdout, &format!("app:2{NASTY_SHOWN}")).trim_start().starts_with('2'), "{stdout}");
    let json: Value = serde_json::from_slice(&run(&["history", "--format", "json"]).stdout).unwrap();
    assert_eq!(json[1]["tags"][0], evil_tag);

    let diff = run(&["diff", "1", "2"]);
    let (stdout, stderr) = text(&diff);
    assert_eq!(diff.status.code(), Some(0), "{stderr}");
    assert_inert("the diff", &stdout);
    let added = line_with(&stdout, &format!("  + evil{NASTY_SHOWN}"));
    assert!(added.ends_with(&format!(" 1.0{NASTY_SHOWN} (deb)")), "{stdout}");
    let fixed = line_with(&stdout, &format!("  - DEBIAN-CVE-2099-0100{NASTY_SHOWN}"));
    assert!(fixed.ends_with(" bash 5.2.15-2+b2"), "{stdout}");
    assert!(line_with(&stdout, "To:").contains(&format!("evil{NASTY_SHOWN}.tar")), "{stdout}");
    let json: Value = serde_json::from_slice(&run(&["diff", "1", "2", "--format", "json"]).stdout).unwrap();
    let names: Vec<&str> =
        json["packages_added"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert!(names.contains(&format!("evil{NASTY}").as_str()), "{names:?}");
    assert_eq!(json["vulnerabilities_fixed"][0]["id"], advisory);

    let rescan = run(&["rescan"]);
    let (stdout, stderr) = text(&rescan);
    assert_eq!(rescan.status.code(), Some(0), "{stderr}");
    assert_inert("the rescan", &stdout);
    assert_inert("stderr", &stderr);
    assert!(line_with(&stdout, &format!("evil{NASTY_SHOWN}.tar")).starts_with("scan "), "{stdout}");
}

#[test]
fn plugins_test_warns_with_escapes_and_prints_the_exact_run() {
    let dir = tempfile::tempdir().unwrap();
    let target = oci(&hostile_image(), &dir.path().join("image"));
    let empty_plugins = tempfile::tempdir().unwrap();
    let output = cli::command()
        .args(["plugins", "test", "npm", &target, "--plugins-dir"])
        .arg(empty_plugins.path())
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert_inert("stderr", &stderr);
    assert!(line_with(&stderr, "climb").contains(&format!(r"climb{NASTY_SHOWN}\nname")), "{stderr}");
    let runs: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let lockfile = format!("srv/app{NASTY}\nx/package-lock.json");
    assert!(strings_in(&runs).iter().any(|s| s.contains(&lockfile)), "{runs:#}");
}

/// Every string in a JSON document.
fn strings_in(value: &Value) -> Vec<&str> {
    match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().flat_map(strings_in).collect(),
        Value::Object(map) => map.values().flat_map(strings_in).collect(),
        _ => Vec::new(),
    }
}
