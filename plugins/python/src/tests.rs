use super::*;
// The integration tests' rule for missing tools and fixtures (skip, or fail under CI=true).
#[path = "../../../tests/common/require.rs"]
#[allow(dead_code)] // each crate uses part of it
mod require;
use ecr_plugin_kit::findings::{file_errors, packages};
use require::require;
use std::path::Path;
use std::process::Command;

const METADATA: &str = "Metadata-Version: 2.1\nName: Demo_Pkg\nVersion: 1.2.3\nLicense: MIT\n\
Classifier: License :: OSI Approved :: Apache Software License\n\nLong description\nName: not-a-header\n";

#[test]
fn patterns_cover_both_formats_in_both_directories() {
    let patterns = Python::patterns();
    for want in
        ["**/site-packages/*.dist-info/METADATA", "**/dist-packages/*.egg-info/PKG-INFO", "**/site-packages/*.egg-info"]
    {
        assert!(patterns.iter().any(|p| p == want), "{want} in {patterns:?}");
    }
}

#[test]
fn metadata_files_are_recognized_only_where_python_installs() {
    let cases = [
        ("usr/lib/python3/dist-packages/a-1.dist-info/METADATA", Some("dist-info")),
        ("venv/lib/python3.12/site-packages/a-1.dist-info/METADATA", Some("dist-info")),
        ("usr/lib/python3/dist-packages/a.egg-info/PKG-INFO", Some("egg-info")),
        ("usr/lib/python3/dist-packages/a-1.egg-info", Some("egg-info")),
        ("src/a-1.dist-info/METADATA", None),
        ("usr/lib/python3/dist-packages/a-1.dist-info/RECORD", None),
        ("usr/lib/python3/dist-packages/a/b.egg-info/PKG-INFO", None),
    ];
    for (path, want) in cases {
        assert_eq!(metadata_format(path), want, "{path}");
    }
}

#[test]
fn a_dist_info_becomes_a_pypi_package() {
    let path = "usr/local/lib/python3.12/site-packages/Demo_Pkg-1.2.3.dist-info/METADATA";
    let findings = analyze_files(&[File::new(&format!("/{path}"), METADATA)]);
    let [p] = packages(&findings)[..] else { panic!("one package: {findings:?}") };
    assert_eq!(
        (p.name.as_str(), p.version.as_str(), p.ecosystem.as_str(), p.path.as_str()),
        ("Demo_Pkg", "1.2.3", "pypi", path)
    );
    assert_eq!(p.purl.as_deref(), Some("pkg:pypi/demo-pkg@1.2.3"));
    assert_eq!(p.licenses, ["MIT"]);
    assert_eq!(p.property("metadata-version"), Some("2.1"));
    assert_eq!(p.property("format"), Some("dist-info"));
    assert!(file_errors(&findings).is_empty());
}

#[test]
fn licenses_prefer_the_expression_then_a_short_license_then_classifiers() {
    let h = |text: &str| Headers::parse(text);
    assert_eq!(licenses(&h("License-Expression: MIT OR Apache-2.0\nLicense: BSD\n")), ["MIT OR Apache-2.0"]);
    assert_eq!(licenses(&h("License: BSD\nClassifier: License :: OSI Approved :: MIT License\n")), ["BSD"]);
    let text = "License: Copyright (c) someone\n        Permission is hereby granted\n\
                Classifier: License :: OSI Approved :: MIT License\nClassifier: License :: OSI Approved\n";
    assert_eq!(licenses(&h(text)), ["MIT License"]);
    assert_eq!(licenses(&h("License: UNKNOWN\n")), Vec::<String>::new());
}

#[test]
fn bad_metadata_is_a_file_error_and_the_rest_is_kept() {
    let dir = "usr/lib/python3/dist-packages";
    let findings = analyze_files(&[
        File::new(&format!("{dir}/nameless-1.dist-info/METADATA"), "Metadata-Version: 2.1\nVersion: 1\n"),
        File::new(&format!("{dir}/binary.egg-info"), b"Name: x\xff\n".as_slice()),
        File::new(&format!("{dir}/good-2.dist-info/METADATA"), "Name: good\nVersion: 2\n"),
        File::new(&format!("{dir}/huge.egg-info"), vec![b'a'; MAX_METADATA_BYTES + 1]),
        File { size: 100, ..File::new(&format!("{dir}/cut.egg-info"), "Name: cut\nVersion: 1\n") },
    ]);
    let names: Vec<&str> = packages(&findings).iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["good"]);
    let errors: Vec<(&str, &str)> =
        file_errors(&findings).iter().map(|e| (e.path.as_str(), e.message.as_str())).collect();
    assert_eq!(
        errors,
        [
            (&*format!("{dir}/binary.egg-info"), "not UTF-8 text (invalid byte at offset 7)"),
            (&*format!("{dir}/cut.egg-info"), "only 21 of 100 bytes were given (the plugin's max file size); not read"),
            (
                &*format!("{dir}/huge.egg-info"),
                "metadata is 4194305 bytes, over the 4 MiB limit for a metadata file; not read"
            ),
            (
                &*format!("{dir}/nameless-1.dist-info/METADATA"),
                "no Name field, so this is not a distribution's metadata; skipped"
            ),
        ]
    );
}

/// The metadata files of every distribution installed in `dir`, as the host would hand them
/// over (paths relative to `/`).
fn installed_metadata(dir: &Path) -> Vec<File> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let metadata = if name.ends_with(".dist-info") {
            path.join("METADATA")
        } else if name.ends_with(".egg-info") && path.is_dir() {
            path.join("PKG-INFO")
        } else if name.ends_with(".egg-info") {
            path.clone()
        } else {
            continue;
        };
        if let Ok(content) = std::fs::read(&metadata) {
            files.push(File::new(metadata.to_str().unwrap(), content));
        }
    }
    files
}

/// (name, version) of every distribution in `dir` according to Python itself.
fn python_distributions(dir: &Path) -> Option<Vec<(String, String)>> {
    let script = "import importlib.metadata as m, json, sys\n\
                  print(json.dumps([[d.metadata['Name'], d.version] for d in m.distributions(path=[sys.argv[1]])]))";
    let run = Command::new("python3").args(["-c", script]).arg(dir).output();
    let out = require(run.map_err(|e| format!("python3 cannot run ({e})")), "install the Debian package python3")?;
    assert!(out.status.success(), "python3 failed: {}", String::from_utf8_lossy(&out.stderr));
    let mut list: Vec<(String, String)> = serde_json_rows(&out.stdout);
    list.sort();
    Some(list)
}

fn serde_json_rows(json: &[u8]) -> Vec<(String, String)> {
    let rows: Vec<(Option<String>, Option<String>)> = fields::json(json, "python output").unwrap();
    // Python lists a metadata file without Name/Version too (as None); this plugin skips it with
    // a file error instead.
    rows.into_iter().filter_map(|(name, version)| Some((name?, version?))).collect()
}

#[test]
fn this_machines_python_packages_match_importlib_metadata() {
    // Debian's python3 packages install here.
    let dir = Path::new("/usr/lib/python3/dist-packages");
    let found = if dir.is_dir() { Ok(dir) } else { Err(format!("{} is absent", dir.display())) };
    let Some(dir) = require(found, "install the Debian package python3 (scripts/test installs it)") else { return };
    let Some(want) = python_distributions(dir) else { return };
    let findings = analyze_files(&installed_metadata(dir));
    let mut got: Vec<(String, String)> =
        packages(&findings).iter().map(|p| (p.name.clone(), p.version.clone())).collect();
    got.sort();
    assert_eq!(got, want, "{}", dir.display());
    eprintln!("{} distributions checked against importlib.metadata", got.len());
}
