use super::*;
// The integration tests' rule for missing tools and fixtures (skip, or fail under CI=true).
#[path = "../../../tests/common/require.rs"]
#[allow(dead_code)] // each crate uses part of it
mod require;
use ecr_plugin_kit::Finding;
use ecr_plugin_kit::findings::{file_errors, packages};
use require::{require, require_fixture};
use std::path::{Path, PathBuf};
use std::process::Command;

fn pj(name: &str, version: &str) -> String {
    format!(r#"{{"name":"{name}","version":"{version}","license":"MIT"}}"#)
}

fn errors(findings: &[Finding]) -> Vec<(String, String)> {
    file_errors(findings).into_iter().map(|e| (e.path.clone(), e.message.clone())).collect()
}

/// (name, version, path, scope, declared-only)
fn rows(findings: &[Finding]) -> Vec<(String, String, String, Option<String>, bool)> {
    let mut out: Vec<_> = packages(findings)
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                p.version.clone(),
                p.path.clone(),
                p.property("scope").map(str::to_string),
                p.property("declared-only") == Some("true"),
            )
        })
        .collect();
    out.sort();
    out
}

/// (name, version, location, scope)
type LockedRow = (String, String, Option<String>, Option<&'static str>);

fn locked(parsed: &Parsed) -> Vec<LockedRow> {
    let mut out: Vec<_> = parsed
        .packages
        .iter()
        .map(|l| (l.name.clone(), l.version.clone(), l.location.clone(), l.scope.map(Scope::as_str)))
        .collect();
    out.sort();
    out
}

fn repo_fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/npm").join(rel)
}

fn s(v: &str) -> String {
    v.to_string()
}

#[test]
fn describe_patterns() {
    assert_eq!(Npm::NAME, "npm");
    assert_eq!(
        Npm::patterns(),
        vec![
            "**/node_modules/**/package.json",
            "**/node_modules/.package-lock.json",
            "**/npm-shrinkwrap.json",
            "**/package-lock.json",
            "**/yarn.lock",
            "**/pnpm-lock.yaml",
        ]
    );
}

#[test]
fn package_folders_and_projects() {
    let inst = |project, location| Kind::Installed { project, location };
    let cases = [
        ("node_modules/a/package.json", inst("", "node_modules/a")),
        ("app/node_modules/@s/b/package.json", inst("app", "node_modules/@s/b")),
        ("srv/app/node_modules/a/node_modules/@s/b/package.json", inst("srv/app", "node_modules/a/node_modules/@s/b")),
        (
            "node_modules/.pnpm/a@1.0.0/node_modules/a/package.json",
            inst("", "node_modules/.pnpm/a@1.0.0/node_modules/a"),
        ),
        ("usr/lib/node_modules/npm/package.json", inst("usr/lib", "node_modules/npm")),
        // A package's own files, not packages.
        ("node_modules/a/lib/package.json", Kind::Ignored),
        ("node_modules/a/test/fixtures/node_modules/b/package.json", Kind::Ignored),
        ("node_modules/@s/package.json", Kind::Ignored),
        ("node_modules/package.json", Kind::Ignored),
        ("node_modules/.bin/package.json", Kind::Ignored),
        ("node_modules/.pnpm/a@1.0.0/package.json", Kind::Ignored),
        ("node_modules/a/node_modules/package.json", Kind::Ignored),
        ("app/package.json", Kind::Ignored),
        // Lockfiles: of a project, not of a package.
        ("app/package-lock.json", Kind::Lockfile { project: "app", rank: 1 }),
        ("yarn.lock", Kind::Lockfile { project: "", rank: 2 }),
        ("a/b/pnpm-lock.yaml", Kind::Lockfile { project: "a/b", rank: 3 }),
        ("a/npm-shrinkwrap.json", Kind::Lockfile { project: "a", rank: 0 }),
        ("app/node_modules/.package-lock.json", Kind::Lockfile { project: "app", rank: 4 }),
        ("node_modules/a/yarn.lock", Kind::Ignored),
        ("node_modules/a/node_modules/.package-lock.json", Kind::Ignored),
    ];
    for (path, want) in cases {
        assert_eq!(paths::classify(path), want, "{path}");
    }
}

#[test]
fn purls() {
    assert_eq!(purl("@babel/core", "7.22.5"), "pkg:npm/%40babel/core@7.22.5");
    assert_eq!(purl("express", "4.21.2"), "pkg:npm/express@4.21.2");
    assert_eq!(purl("x", "1.0.0-beta+build"), "pkg:npm/x@1.0.0-beta%2Bbuild");
}

#[test]
fn manifest_license_forms() {
    let lic = |json: &str| manifest::parse(json.as_bytes()).map(|m| m.licenses);
    assert_eq!(
        lic(r#"{"name":"a","version":"1","license":"(MIT OR Apache-2.0)"}"#),
        Ok(vec![s("(MIT OR Apache-2.0)")])
    );
    assert_eq!(lic(r#"{"name":"a","version":"1","license":{"type":"BSD","url":"u"}}"#), Ok(vec![s("BSD")]));
    assert_eq!(
        lic(r#"{"name":"a","version":"1","licenses":[{"type":"MIT","url":"u"},{"type":"GPL-2.0"},"ISC"]}"#),
        Ok(vec![s("MIT"), s("GPL-2.0"), s("ISC")])
    );
    // `license` wins over the legacy array; wrong types are ignored, not fatal.
    assert_eq!(lic(r#"{"name":"a","version":"1","license":"MIT","licenses":[{"type":"X"}]}"#), Ok(vec![s("MIT")]));
    assert_eq!(lic(r#"{"name":"a","version":"1","license":42,"licenses":{"type":7}}"#), Ok(vec![]));
    assert_eq!(lic(r#"{"name":"a","version":"1","license":" "}"#), Ok(vec![]));
}

#[test]
fn manifest_errors_say_what_and_where() {
    let err = |json: &[u8]| manifest::parse(json).unwrap_err();
    assert_eq!(err(br#"{"name":"a"}"#), "package.json has no \"version\"; skipped");
    assert_eq!(err(br#"{"version":"1.0.0"}"#), "package.json has no \"name\"; skipped");
    assert_eq!(
        err(br#"{"name":"a","version":"1.0.0""#),
        "invalid package.json: EOF while parsing an object at line 1 column 29"
    );
    assert_eq!(
        err(br#"{"name":"a","version":1}"#),
        "invalid package.json: invalid type: integer `1`, expected a string at line 1 column 23"
    );
    assert_eq!(err(b"{\"name\":\"a\xff\"}"), "not UTF-8 text (invalid byte at offset 10)");
    assert_eq!(err(br#"{"name":"a b","version":"1"}"#), "\"name\" \"a b\" contains whitespace or control characters");
    let big = format!(r#"{{"name":"a","version":"1","readme":"{}"}}"#, "x".repeat(3 << 20));
    assert_eq!(
        err(big.as_bytes()),
        format!("package.json is {} bytes, over the 2 MiB limit for a package manifest; not parsed", big.len())
    );
    // A byte-order mark is tolerated.
    assert_eq!(manifest::parse(b"\xEF\xBB\xBF{\"name\":\"a\",\"version\":\"1\"}").unwrap().name, "a");
}

#[test]
fn deep_nesting_never_overflows() {
    // Unknown fields are skipped without recursion, whatever their depth.
    let deep = format!(r#"{{"name":"a","version":"1","x":{}{}}}"#, "[".repeat(200_000), "]".repeat(200_000));
    assert_eq!(manifest::parse(deep.as_bytes()).unwrap().version, "1");
    // Fields that are built stop at serde_json's depth limit with an error.
    let deep = format!(r#"{{"name":"a","version":"1","license":{}{}}}"#, "[".repeat(100_000), "]".repeat(100_000));
    assert!(manifest::parse(deep.as_bytes()).unwrap_err().contains("recursion limit exceeded"));
    let lock = format!(
        r#"{{"lockfileVersion":3,"packages":{{"node_modules/a":{{"version":"1","x":{}{}}}}}}}"#,
        "[".repeat(200_000),
        "]".repeat(200_000)
    );
    assert_eq!(locked(&npm_lock::parse(lock.as_bytes())), vec![(s("a"), s("1"), Some(s("node_modules/a")), None)]);
    // v1 nesting deeper than the cap: an error, the shallower entries kept.
    let mut v1 = String::from(r#"{"lockfileVersion":1,"dependencies":"#);
    for _ in 0..100 {
        v1.push_str(r#"{"a":{"version":"1.0.0","dependencies":"#);
    }
    v1.push_str("{}");
    v1.push_str(&"}}".repeat(100));
    v1.push('}');
    let parsed = npm_lock::parse(v1.as_bytes());
    assert_eq!(parsed.packages.len(), npm_lock::MAX_V1_DEPTH);
    assert_eq!(parsed.errors.len(), 1);
    assert!(parsed.errors[0].contains("nested more than 64 levels deep"), "{:?}", parsed.errors);
    // YAML: block and flow nesting past the cap is an error, not a crash.
    let yaml = format!("lockfileVersion: '9.0'\npackages: {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
    assert_eq!(pnpm_lock::parse(yaml.as_bytes()).errors.len(), 1);
    let mut yaml = String::from("lockfileVersion: '9.0'\n");
    for i in 0..200 {
        yaml.push_str(&format!("{}k{i}:\n", " ".repeat(i)));
    }
    let parsed = pnpm_lock::parse(yaml.as_bytes());
    assert!(parsed.errors[0].contains("nested more than 64 levels deep"), "{:?}", parsed.errors);
}

#[test]
fn yaml_aliases_are_not_expanded() {
    // A billion-laughs document: each alias would double the size if expanded.
    let mut yaml = String::from("lockfileVersion: '6.0'\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..40 {
        yaml.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n", p = i - 1));
    }
    yaml.push_str("packages:\n  /x@1.0.0:\n    dev: false\n");
    let parsed = pnpm_lock::parse(yaml.as_bytes());
    assert_eq!(locked(&parsed), vec![(s("x"), s("1.0.0"), None, None)]);
}

/// Runs the real npm on a lockfile (with a package.json made from its root entry) and returns
/// (location, name, version, scope) of every package folder npm lists, or None where npm cannot
/// run here.
fn npm_oracle(lockfile: &[u8], with_scopes: bool) -> Option<Vec<LockedRow>> {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("ecr-npm-oracle-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let lock: serde_json::Value = serde_json::from_slice(lockfile).ok()?;
    let root = &lock["packages"][""];
    let mut manifest = serde_json::json!({"name": lock["name"], "version": lock["version"]});
    for k in ["dependencies", "devDependencies", "optionalDependencies", "peerDependencies", "workspaces"] {
        if !root[k].is_null() {
            manifest[k] = root[k].clone();
        }
    }
    std::fs::write(dir.join("package.json"), manifest.to_string()).ok()?;
    std::fs::write(dir.join("package-lock.json"), lockfile).ok()?;
    let query = |selector: &str| -> Option<Vec<serde_json::Value>> {
        let out = Command::new("npm")
            .args(["query", selector, "--package-lock-only", "--offline"])
            .current_dir(&dir)
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    };
    let all = query("*");
    let mut scopes = Vec::new();
    for (selector, name) in [(".dev", "dev"), (".optional", "optional"), (".peer", "peer")] {
        let locations: Vec<String> =
            query(selector)?.iter().filter_map(|n| n["location"].as_str().map(str::to_string)).collect();
        scopes.push((name, locations));
    }
    let _ = std::fs::remove_dir_all(&dir);
    let mut out = Vec::new();
    for node in all? {
        let location = node["location"].as_str()?.to_string();
        if !(location.starts_with("node_modules/") || location.contains("/node_modules/")) {
            continue; // the project and its workspace folders
        }
        let scope =
            if with_scopes { scopes.iter().find(|(_, l)| l.contains(&location)).map(|(n, _)| *n) } else { None };
        out.push((node["name"].as_str()?.to_string(), node["version"].as_str()?.to_string(), Some(location), scope));
    }
    out.sort();
    Some(out)
}

#[test]
fn shared_npm_lockfiles_match_npm_itself() {
    let names = [
        ("package-lock_v1.json", true),
        ("package-lock_v2.json", true),
        ("package-lock_v3.json", true),
        ("package-lock_v3_with-same-dev-and-non-dev.json", true),
        ("package-lock_v3_with_legacy_licenses.json", true),
        ("package-lock_v3_with_peer.json", true),
        // npm recomputes flags for workspaces from the workspace folders' own manifests, which
        // these lockfile-only fixtures lack; the package set is still npm's.
        ("package-lock_v3_with_workspace.json", false),
        ("package-lock_v3_with_workspace_as_object.json", false),
        ("package-lock_v3_without_root_deps_field.json", false),
    ];
    let mut fixtures = Vec::new();
    for (name, with_scopes) in names {
        let Some(bytes) = require_fixture(&format!("npm/{name}")) else { return };
        fixtures.push((name, with_scopes, bytes));
    }
    // npm takes a second per query: ask it about every fixture at once.
    let oracles: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> =
            fixtures.iter().map(|(_, with_scopes, bytes)| scope.spawn(|| npm_oracle(bytes, *with_scopes))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for ((name, with_scopes, bytes), oracle) in fixtures.iter().zip(oracles) {
        let answered = oracle.ok_or_else(|| format!("`npm query` cannot answer for {name}"));
        let Some(want) = require(answered, "install the Debian package npm (scripts/test installs it)") else {
            return;
        };
        let parsed = npm_lock::parse(bytes);
        assert!(parsed.errors.is_empty(), "{name}: {:?}", parsed.errors);
        let mut got = locked(&parsed);
        if !with_scopes {
            got.iter_mut().for_each(|r| r.3 = None);
        }
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn shared_npm_lockfiles_exact() {
    let Some(v1) = require_fixture("npm/package-lock_v1.json") else { return };
    let parsed = npm_lock::parse(&v1);
    assert_eq!(parsed.packages.len(), 33);
    let nested = parsed.packages.iter().find(|l| l.location.as_deref() == Some("node_modules/debug/node_modules/ms"));
    assert_eq!(nested.map(|l| (l.version.as_str(), l.scope)), Some(("0.7.2", Some(Scope::Dev))));

    let Some(legacy) = require_fixture("npm/package-lock_v3_with_legacy_licenses.json") else { return };
    let lic: Vec<(String, Vec<String>)> =
        npm_lock::parse(&legacy).packages.into_iter().map(|l| (l.name, l.licenses)).collect();
    assert_eq!(
        lic,
        vec![
            (s("mustache"), vec![s("MIT")]),
            (s("pause-stream"), vec![s("MIT"), s("Apache2")]),
            (s("tv4"), vec![s("Public Domain"), s("MIT")]),
        ]
    );

    let Some(broken) = require_fixture("npm/package-lock_v3_broken_link.json") else { return };
    let parsed = npm_lock::parse(&broken);
    assert_eq!(parsed.packages, vec![]);
    assert_eq!(
        parsed.errors,
        vec![s(
            "packages[\"node_modules/func1\"] is a link to \"\", which the lockfile does not contain (broken link); skipped"
        )]
    );

    // Declared-only through the analyzer: one package per name and version; minimist is both a
    // dev dependency (inside fsevents) and a production one, so it is production.
    let Some(mixed) = require_fixture("npm/package-lock_v3_with-same-dev-and-non-dev.json") else { return };
    let findings = analyze_files(&[File::new("srv/package-lock.json", mixed)]);
    assert_eq!(errors(&findings), vec![]);
    let lockfile = s("srv/package-lock.json");
    assert_eq!(
        rows(&findings),
        vec![
            (s("fsevents"), s("1.2.9"), lockfile.clone(), Some(s("dev")), true),
            (s("minimist"), s("0.0.8"), lockfile.clone(), None, true),
            (s("mkdirp"), s("0.5.1"), lockfile.clone(), Some(s("dev")), true),
            (s("node-pre-gyp"), s("0.12.0"), lockfile.clone(), Some(s("dev")), true),
        ]
    );
    let p = packages(&findings);
    assert!(p.iter().all(|p| p.property("lockfile") == Some("srv/package-lock.json") && p.ecosystem == "npm"));
    assert_eq!(p.iter().find(|p| p.name == "node-pre-gyp").unwrap().licenses, vec![s("BSD-3-Clause")]);
}

/// The same package.json resolved by npm, Yarn 1, Yarn 4, pnpm 7, 8 and 9: every lockfile
/// declares the same five packages.
#[test]
fn lockfiles_of_every_tool_declare_the_same_packages() {
    let read = |name: &str| std::fs::read(repo_fixture(&format!("lockfiles/{name}"))).unwrap();
    // (name, version, scope) per the package.json: dev @types/ms, optional is-number.
    let with_scopes = vec![
        (s("@types/ms"), s("0.7.34"), Some("dev")),
        (s("debug"), s("2.6.9"), None),
        (s("is-number"), s("7.0.0"), Some("optional")),
        (s("ms"), s("2.0.0"), None),
        (s("ms"), s("2.1.3"), None),
    ];
    let no_scopes: Vec<_> = with_scopes.iter().map(|(n, v, _)| (n.clone(), v.clone(), None)).collect();
    type Parser = fn(&[u8]) -> Parsed;
    let cases: [(&str, Parser, bool); 6] = [
        ("package-lock.json", npm_lock::parse, true),
        ("yarn-v1.lock", yarn_lock::parse, false),
        ("yarn-berry.lock", yarn_lock::parse, false),
        ("pnpm-v5.4.yaml", pnpm_lock::parse, true),
        ("pnpm-v6.yaml", pnpm_lock::parse, true),
        ("pnpm-v9.yaml", pnpm_lock::parse, true),
    ];
    for (name, parse, scoped) in cases {
        let parsed = parse(&read(name));
        assert!(parsed.errors.is_empty(), "{name}: {:?}", parsed.errors);
        let got: Vec<_> = locked(&parsed).into_iter().map(|(n, v, _, s)| (n, v, s)).collect();
        assert_eq!(got, if scoped { with_scopes.clone() } else { no_scopes.clone() }, "{name}");
    }
}

#[test]
fn yarn_aliases_protocols_and_errors() {
    let v1 = "# yarn lockfile v1\n\n\
        \"string-width-cjs@npm:string-width@^4.2.0\":\n  version \"4.2.3\"\n\n\
        local@file:../local:\n  version \"1.0.0\"\n\n\
        \"@s/a@^1.0.0\", \"@s/a@^1.1.0\":\n  version \"1.2.0\"\n  dependencies:\n    b \"^2\"\n\n\
        noversion@^1:\n  resolved \"x\"\n\
        garbage line\n";
    let parsed = yarn_lock::parse(v1.as_bytes());
    assert_eq!(locked(&parsed), vec![(s("@s/a"), s("1.2.0"), None, None), (s("string-width"), s("4.2.3"), None, None)]);
    assert_eq!(
        parsed.errors,
        vec![
            s("line 14: entry \"noversion@^1\" has no version; skipped"),
            s("line 16: expected an entry header ending in ':', found \"garbage line\""),
        ]
    );
    let berry = "__metadata:\n  version: 8\n\n\
        \"app@workspace:.\":\n  version: 0.0.0-use.local\n  resolution: \"app@workspace:.\"\n\n\
        \"resolve@patch:resolve@npm%3A^1.22.1#~builtin<compat/resolve>\":\n  version: 1.22.8\n  resolution: \"resolve@patch:resolve@npm%3A1.22.8#~builtin<compat/resolve>::version=1.22.8&hash=c3c19d\"\n\n\
        \"resolve@npm:^1.22.1\":\n  version: 1.22.8\n  resolution: \"resolve@npm:1.22.8\"\n\n\
        \"sw@npm:string-width@^4\":\n  version: 4.2.3\n  resolution: \"string-width@npm:4.2.3\"\n";
    let parsed = yarn_lock::parse(berry.as_bytes());
    assert_eq!(parsed.errors, Vec::<String>::new());
    assert_eq!(
        locked(&parsed),
        vec![(s("resolve"), s("1.22.8"), None, None), (s("string-width"), s("4.2.3"), None, None)]
    );
    assert_eq!(yarn_lock::parse(b"{\"not\": \"yarn\"}").errors, vec![s("not a yarn.lock: no entry headers")]);
}

#[test]
fn installed_tree_is_the_truth() {
    let lock = r#"{"lockfileVersion":3,"packages":{
        "":{"name":"app","version":"1.0.0"},
        "node_modules/a":{"version":"1.0.0","license":"ISC"},
        "node_modules/@s/b":{"version":"2.0.0","dev":true},
        "node_modules/a/node_modules/c":{"version":"3.0.0","optional":true},
        "node_modules/pruned":{"version":"9.9.9","dev":true},
        "node_modules/stale":{"version":"1.0.0","peer":true}
    }}"#;
    let files = vec![
        File::new("app/package.json", pj("app", "1.0.0")),
        File::new("app/package-lock.json", lock),
        File::new("app/node_modules/a/package.json", r#"{"name":"a","version":"1.0.0"}"#),
        File::new("app/node_modules/@s/b/package.json", pj("@s/b", "2.0.0")),
        File::new("app/node_modules/a/node_modules/c/package.json", pj("c", "3.0.0")),
        // Upgraded after the lockfile was written: the lockfile's scope is not about this copy.
        File::new("app/node_modules/stale/package.json", pj("stale", "2.0.0")),
        // A package's own files and lockfiles are not the image's packages.
        File::new("app/node_modules/a/lib/package.json", pj("not-a-package", "1.0.0")),
        File::new("app/node_modules/a/yarn.lock", "ghost@^1:\n  version \"1.0.0\"\n"),
        // Another project with nothing installed: declared.
        File::new("other/yarn.lock", "left-pad@^1:\n  version \"1.3.0\"\n"),
    ];
    let findings = analyze_files(&files);
    assert_eq!(errors(&findings), vec![]);
    let path = |p: &str| s(p);
    assert_eq!(
        rows(&findings),
        vec![
            (s("@s/b"), s("2.0.0"), path("app/node_modules/@s/b/package.json"), Some(s("dev")), false),
            (s("a"), s("1.0.0"), path("app/node_modules/a/package.json"), None, false),
            (s("c"), s("3.0.0"), path("app/node_modules/a/node_modules/c/package.json"), Some(s("optional")), false),
            (s("left-pad"), s("1.3.0"), path("other/yarn.lock"), None, true),
            (s("stale"), s("2.0.0"), path("app/node_modules/stale/package.json"), None, false),
        ]
    );
    let p = packages(&findings);
    let a = p.iter().find(|p| p.name == "a").unwrap();
    // No license in the package.json: the lockfile's.
    assert_eq!(a.licenses, vec![s("ISC")]);
    assert_eq!(a.property("lockfile"), Some("app/package-lock.json"));
    assert_eq!(p.iter().find(|p| p.name == "stale").unwrap().property("lockfile"), None);
    assert_eq!(p.iter().find(|p| p.name == "@s/b").unwrap().purl.as_deref(), Some("pkg:npm/%40s/b@2.0.0"));
}

#[test]
fn pnpm_install_matched_by_name_and_version() {
    let yaml = std::fs::read(repo_fixture("lockfiles/pnpm-v9.yaml")).unwrap();
    let store = |id: &str, name: &str, v: &str| {
        File::new(&format!("p/node_modules/.pnpm/{id}/node_modules/{name}/package.json"), pj(name, v))
    };
    let files = vec![
        File::new("p/pnpm-lock.yaml", yaml),
        store("@types+ms@0.7.34", "@types/ms", "0.7.34"),
        store("debug@2.6.9", "debug", "2.6.9"),
        store("ms@2.0.0", "ms", "2.0.0"),
    ];
    let findings = analyze_files(&files);
    assert_eq!(errors(&findings), vec![]);
    assert_eq!(
        rows(&findings),
        vec![
            (
                s("@types/ms"),
                s("0.7.34"),
                s("p/node_modules/.pnpm/@types+ms@0.7.34/node_modules/@types/ms/package.json"),
                Some(s("dev")),
                false
            ),
            (
                s("debug"),
                s("2.6.9"),
                s("p/node_modules/.pnpm/debug@2.6.9/node_modules/debug/package.json"),
                None,
                false
            ),
            (s("ms"), s("2.0.0"), s("p/node_modules/.pnpm/ms@2.0.0/node_modules/ms/package.json"), None, false),
        ]
    );
}

#[test]
fn shrinkwrap_hides_package_lock() {
    let lock =
        |name: &str| format!(r#"{{"lockfileVersion":3,"packages":{{"node_modules/{name}":{{"version":"1.0.0"}}}}}}"#);
    let findings = analyze_files(&[
        File::new("x/package-lock.json", lock("from-package-lock")),
        File::new("x/npm-shrinkwrap.json", lock("from-shrinkwrap")),
        File::new("x/yarn.lock", "from-shrinkwrap@^1:\n  version \"1.0.0\"\nfrom-yarn@^1:\n  version \"1.0.0\"\n"),
    ]);
    assert_eq!(
        rows(&findings),
        vec![
            (s("from-shrinkwrap"), s("1.0.0"), s("x/npm-shrinkwrap.json"), None, true),
            (s("from-yarn"), s("1.0.0"), s("x/yarn.lock"), None, true),
        ]
    );
}

#[test]
fn bad_files_are_errors_and_the_rest_is_kept() {
    let files = vec![
        File::new("node_modules/ok/package.json", pj("ok", "1.0.0")),
        File::new("node_modules/broken/package.json", "{\"name\": \"broken\", "),
        File::new("node_modules/noversion/package.json", r#"{"name":"noversion"}"#),
        File::new(
            "node_modules/huge/package.json",
            format!(r#"{{"name":"huge","version":"1","x":"{}"}}"#, "y".repeat(50 << 20)),
        ),
        File::new("a/package-lock.json", "not json"),
        File::new("b/pnpm-lock.yaml", "lockfileVersion: '9.0'\npackages: [unclosed\n"),
        File::new(
            "c/package-lock.json",
            r#"{"lockfileVersion":3,"packages":{"node_modules/x":{"version":2},"node_modules/y":{"version":"1.0.0"},"node_modules/z":{}}}"#,
        ),
    ];
    let findings = analyze_files(&files);
    let errs = errors(&findings);
    let msg = |path: &str| errs.iter().filter(|(p, _)| p == path).map(|(_, m)| m.as_str()).collect::<Vec<_>>();
    assert_eq!(
        msg("node_modules/broken/package.json"),
        vec!["invalid package.json: EOF while parsing a value at line 1 column 19"]
    );
    assert_eq!(msg("node_modules/noversion/package.json"), vec!["package.json has no \"version\"; skipped"]);
    assert_eq!(
        msg("node_modules/huge/package.json"),
        vec![format!(
            "package.json is {} bytes, over the 2 MiB limit for a package manifest; not parsed",
            (50 << 20) + 36
        )]
    );
    assert_eq!(msg("a/package-lock.json"), vec!["invalid lockfile JSON: expected ident at line 1 column 2"]);
    assert_eq!(msg("b/pnpm-lock.yaml").len(), 1);
    assert!(msg("b/pnpm-lock.yaml")[0].starts_with("invalid YAML: "), "{:?}", msg("b/pnpm-lock.yaml"));
    assert_eq!(
        msg("c/package-lock.json"),
        vec![
            "packages[\"node_modules/x\"]: invalid type: integer `2`, expected a string at line 1 column 12; skipped",
            "packages[\"node_modules/z\"] has no \"version\"; skipped",
        ]
    );
    assert_eq!(errs.len(), 7);
    assert_eq!(
        rows(&findings),
        vec![
            (s("ok"), s("1.0.0"), s("node_modules/ok/package.json"), None, false),
            (s("y"), s("1.0.0"), s("c/package-lock.json"), None, true),
        ]
    );
}

#[test]
fn hostile_bytes_never_panic() {
    // Deterministic pseudo-random bytes and mutations of real files through every parser.
    let mut seeds: Vec<Vec<u8>> = vec![
        std::fs::read(repo_fixture("lockfiles/yarn-v1.lock")).unwrap(),
        std::fs::read(repo_fixture("lockfiles/yarn-berry.lock")).unwrap(),
        std::fs::read(repo_fixture("lockfiles/pnpm-v6.yaml")).unwrap(),
        std::fs::read(repo_fixture("lockfiles/pnpm-v9.yaml")).unwrap(),
        std::fs::read(repo_fixture("lockfiles/package-lock.json")).unwrap(),
    ];
    let mut x: u32 = 0x9e37_79b9;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    seeds.push((0..4096).map(|_| next() as u8).collect());
    for seed in &seeds {
        for round in 0..300 {
            let mut bytes = seed.clone();
            for _ in 0..(round % 7 + 1) {
                let len = bytes.len().max(1) as u32;
                let at = (next() % len) as usize;
                match next() % 3 {
                    0 => bytes.truncate(at),
                    1 => {
                        if let Some(b) = bytes.get_mut(at) {
                            *b = next() as u8;
                        }
                    }
                    _ => bytes.insert(at.min(bytes.len()), b"{}[]:\"'-\n &*!|>@"[(next() % 16) as usize]),
                }
            }
            let _ = yarn_lock::parse(&bytes);
            let _ = pnpm_lock::parse(&bytes);
            let _ = npm_lock::parse(&bytes);
            let _ = manifest::parse(&bytes);
        }
    }
}

/// A real installed tree (see tests/fixtures/npm/README.md) against npm's own account of it.
#[test]
fn real_node_modules_tree_matches_npm_query() {
    let root = repo_fixture("express-app");
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(&root).unwrap().to_str().unwrap();
                files.push(File::new(&format!("srv/app/{rel}"), std::fs::read(&path).unwrap()));
            }
        }
    }
    let findings = analyze_files(&files);
    assert_eq!(errors(&findings), vec![]);
    let oracle: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(root.join("npm-query.json")).unwrap()).unwrap();
    let mut want: Vec<_> = oracle
        .iter()
        .map(|n| {
            let scope = ["dev", "optional", "peer"].into_iter().find(|k| n[*k] == true).map(s);
            let path = format!("srv/app/{}/package.json", n["location"].as_str().unwrap());
            (s(n["name"].as_str().unwrap()), s(n["version"].as_str().unwrap()), path, scope, false)
        })
        .collect();
    want.sort();
    assert_eq!(want.len(), 74);
    assert_eq!(rows(&findings), want);
}

/// Parse speed of a big lockfile; prints the measurement (run with --nocapture).
#[test]
fn big_lockfile_parses_quickly() {
    let mut lock = String::from(
        r#"{"name":"big","version":"1.0.0","lockfileVersion":3,"requires":true,"packages":{"":{"name":"big"}"#,
    );
    // Unoptimized test builds are ~40x slower; the measured number is from `--release`.
    let n = if cfg!(debug_assertions) { 5_000 } else { 40_000 };
    for i in 0..n {
        lock.push_str(&format!(
            r#","node_modules/pkg-{i}/node_modules/@scope/dep-{i}":{{"version":"1.{i}.0","resolved":"https://registry.npmjs.org/@scope/dep-{i}/-/dep-{i}-1.{i}.0.tgz","integrity":"sha512-{}","license":"MIT","dev":{},"dependencies":{{"a":"^1.0.0","b":"^2.0.0"}},"engines":{{"node":">=14"}}}}"#,
            "A".repeat(88),
            i % 2 == 0
        ));
    }
    lock.push_str("}}");
    let started = std::time::Instant::now();
    let findings = analyze_files(&[File::new("app/package-lock.json", lock.as_bytes())]);
    let elapsed = started.elapsed();
    assert_eq!(packages(&findings).len(), n);
    println!("parsed a {:.1} MB package-lock.json ({n} packages) in {elapsed:?}", lock.len() as f64 / 1e6);
}
