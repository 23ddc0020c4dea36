//! Scanning images from a real OCI registry (Debian's docker-registry on 127.0.0.1), pushed by
//! skopeo: anonymous, htpasswd Basic (flags, Docker's config file and credential helpers), a
//! Bearer token service, multi-platform indexes, digest references, and network faults between
//! scanner and registry.

mod common;

use common::cli::{self, ScanResult};
use common::image::*;
use common::registry::{Fault, Front, REFRESH_TOKEN, Registry};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

const USER: &str = "alice";
const PASSWORD: &str = "correct horse";

fn stanza(name: &str, version: &str) -> String {
    dpkg_status_stanza(name, version, "amd64", None, "install ok installed")
}

/// Bytes that do not compress, so a gzip layer holding them is large enough to cut mid-body.
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Layer 1 (~3 MB): os-release, a dpkg database and a large file; layer 2 upgrades one package
/// and adds one; layer 3 is unrelated. All gzip: skopeo pushes those unchanged (it would compress
/// plain layers, changing their digests).
fn debian_spec(arch: &str, extra: &str) -> ImageSpec {
    let status = [stanza("base-files", "12.4"), stanza("libc6", "2.36-9"), stanza(extra, "1.0-1")].concat();
    let upgraded = [
        stanza("base-files", "12.4"),
        stanza("libc6", "2.36-9+deb12u4"),
        stanza(extra, "1.0-1"),
        stanza("curl", "7.88.1-10"),
    ]
    .concat();
    ImageSpec::new(vec![
        Layer::gzip(vec![
            Entry::file("usr/lib/os-release", os_release("debian", "12", "Debian GNU/Linux 12 (bookworm)")),
            Entry::symlink("etc/os-release", "../usr/lib/os-release"),
            Entry::file("var/lib/dpkg/status", status),
            Entry::file("opt/blob.bin", noise(3 << 20)),
        ]),
        Layer::gzip(vec![Entry::file("var/lib/dpkg/status", upgraded)]),
        Layer::gzip(vec![Entry::file("srv/app.txt", "unrelated layer")]),
    ])
    .with_platform("linux", arch, (arch == "arm64").then_some("v8"))
}

struct Pushed {
    registry: Registry,
    archive: PathBuf,
    built: Vec<BuiltImage>,
    digest: String,
    _dir: tempfile::TempDir,
}

/// Starts a registry (with `user` when given) and pushes a one-platform Debian image to `team/app:1.0`.
fn pushed(user: Option<(&str, &str)>) -> Pushed {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("image.tar");
    let built = write_oci_archive(&[(&debian_spec("amd64", "zlib1g"), Some("1.0"))], &archive, false);
    let registry = Registry::start(user);
    let digest = registry.push(&archive, "team/app:1.0", user, false);
    Pushed { registry, archive, built, digest, _dir: dir }
}

/// `ecr-engine scan` with Docker's config directory set to `docker_config` (empty by default, so
/// this machine's own login never leaks in).
fn scan(target: &str, extra: &[&str], docker_config: Option<&Path>) -> ScanResult {
    scan_with_path(target, extra, docker_config, None)
}

/// `scan` with `bin` first on PATH (where a test puts its credential helpers).
fn scan_with_path(target: &str, extra: &[&str], docker_config: Option<&Path>, bin: Option<&Path>) -> ScanResult {
    let empty = tempfile::tempdir().unwrap();
    let mut command = cli::command();
    command.env("DOCKER_CONFIG", docker_config.unwrap_or(empty.path()));
    for name in [
        "ECR_ENGINE_REGISTRY_USERNAME",
        "ECR_ENGINE_REGISTRY_PASSWORD",
        "ECR_ENGINE_NO_CREDENTIAL_HELPERS",
        "ECR_ENGINE_DOWNLOAD_RETRIES",
    ] {
        command.env_remove(name);
    }
    if let Some(bin) = bin {
        let mut path = OsString::from(bin);
        path.push(":");
        path.push(std::env::var_os("PATH").unwrap_or_default());
        command.env("PATH", path);
    }
    cli::run_scan(command, target, extra)
}

fn failure(result: &ScanResult) -> String {
    assert_ne!(result.code, 0, "the scan should have failed; report: {:#}", result.report);
    result.stderr.clone()
}

fn package_layers(result: &ScanResult) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = result.report["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| {
            let field = |k: &str| p[k].as_str().unwrap_or_default().to_string();
            (field("name"), field("version"), field("layer"))
        })
        .collect();
    out.sort();
    out
}

/// The registry scan finds exactly what scanning the same archive locally finds, layer by layer.
fn assert_same_as_local(remote: &ScanResult, archive: &Path, built: &BuiltImage) {
    assert_eq!(remote.code, 0, "errors: {}; stderr: {}", remote.errors(), remote.stderr);
    assert_eq!(remote.report["complete"], true);
    let local = cli::scan(&cli::target("oci-archive", archive), &[]);
    assert_eq!(local.code, 0, "{}", local.stderr);
    let packages = package_layers(remote);
    assert_eq!(packages, package_layers(&local));
    let curl = packages.iter().find(|(name, ..)| name == "curl").expect("curl found");
    assert_eq!(curl.2, built.layer_digests[1], "curl came with layer 2");
    let base = packages.iter().find(|(name, ..)| name == "base-files").expect("base-files found");
    assert_eq!(base.2, built.layer_digests[0], "base-files came with layer 1");
    let libc = packages.iter().find(|(name, ..)| name == "libc6").unwrap();
    assert_eq!((libc.1.as_str(), libc.2.as_str()), ("2.36-9+deb12u4", built.layer_digests[1].as_str()));
    let layers: Vec<&str> =
        remote.report["image"]["layers"].as_array().unwrap().iter().map(|l| l["digest"].as_str().unwrap()).collect();
    assert_eq!(layers, built.layer_digests.iter().map(String::as_str).collect::<Vec<_>>());
}

#[test]
fn anonymous_registry_by_tag_and_by_digest() {
    let p = pushed(None);
    assert_eq!(p.digest, p.built[0].manifest_digest, "skopeo kept the manifest as built");
    let host = p.registry.host();

    let by_tag = scan(&format!("{host}/team/app:1.0"), &["--insecure"], None);
    assert_same_as_local(&by_tag, &p.archive, &p.built[0]);
    assert_eq!(by_tag.report["image"]["digest"], p.digest.as_str(), "{:#}", by_tag.report["image"]);

    let by_digest = scan(&format!("docker://{host}/team/app@{}", p.digest), &["--insecure"], None);
    assert_same_as_local(&by_digest, &p.archive, &p.built[0]);

    // A registry that asks for no authentication never runs the credential helper Docker's
    // config names (this one is not even installed).
    let config = tempfile::tempdir().unwrap();
    std::fs::write(config.path().join("config.json"), r#"{"credsStore":"ecr-engine-not-installed"}"#).unwrap();
    let anonymous = scan(&format!("{host}/team/app:1.0"), &["--insecure"], Some(config.path()));
    assert_same_as_local(&anonymous, &p.archive, &p.built[0]);

    // Mistakes name what is missing.
    let error = failure(&scan(&format!("{host}/team/app:2.0"), &["--insecure"], None));
    assert!(error.contains("tag '2.0'") && error.contains("team/app") && error.contains("404"), "{error}");
    let error = failure(&scan(&format!("{host}/team/nothing:1.0"), &["--insecure"], None));
    assert!(error.contains("team/nothing") && error.contains("404"), "{error}");
    let absent = format!("sha256:{}", "0".repeat(64));
    let error = failure(&scan(&format!("{host}/team/app@{absent}"), &["--insecure"], None));
    assert!(error.contains(&absent) && error.contains("404"), "{error}");

    // HTTPS is the default: a plain-HTTP registry says what to do.
    let error = failure(&scan(&format!("{host}/team/app:1.0"), &[], None));
    assert!(error.contains("--insecure") && error.contains(&format!("https://{host}/v2/")), "{error}");
}

#[test]
fn htpasswd_basic_auth_from_flags_and_docker_config() {
    let p = pushed(Some((USER, PASSWORD)));
    let target = format!("{}/team/app:1.0", p.registry.host());

    let error = failure(&scan(&target, &["--insecure"], None));
    assert!(error.contains("requires a username and password") && error.contains("--username"), "{error}");

    let error = failure(&scan(&target, &["--insecure", "--username", USER, "--password", "wrong"], None));
    assert!(error.contains("rejected the username and password for 'alice'"), "{error}");
    assert!(!error.contains("wrong"), "the password is never printed: {error}");

    let ok = scan(&target, &["--insecure", "--username", USER, "--password", PASSWORD], None);
    assert_same_as_local(&ok, &p.archive, &p.built[0]);

    // docker login's config file, with the key in its https://HOST form.
    let config = tempfile::tempdir().unwrap();
    let auth = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    };
    std::fs::write(
        config.path().join("config.json"),
        format!(r#"{{"auths":{{"https://{}":{{"auth":"{auth}"}}}}}}"#, p.registry.host()),
    )
    .unwrap();
    let ok = scan(&target, &["--insecure"], Some(config.path()));
    assert_same_as_local(&ok, &p.archive, &p.built[0]);
}

/// Writes an executable `docker-credential-NAME` shell script into `dir`. A child shell writes
/// it: had this process held it open for writing, a child another test thread forks at that
/// moment would inherit the descriptor, and running the script could fail with "Text file busy".
fn credential_helper(dir: &Path, name: &str, body: &str) {
    use std::io::Write as _;
    let path = dir.join(format!("docker-credential-{name}"));
    let mut writer = std::process::Command::new("sh")
        .args(["-c", "cat > \"$1\" && chmod 755 \"$1\"", "sh"])
        .arg(&path)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    writer.stdin.take().unwrap().write_all(format!("#!/bin/sh\n{body}\n").as_bytes()).unwrap();
    assert!(writer.wait().unwrap().success());
}

#[test]
fn credential_helpers_named_in_docker_config() {
    let p = pushed(Some((USER, PASSWORD)));
    let host = p.registry.host();
    let target = format!("{host}/team/app:1.0");
    let bin = tempfile::tempdir().unwrap();
    // Answers only for this registry's server URL, as docker-credential-helpers do.
    credential_helper(
        bin.path(),
        "testvault",
        &format!(
            r#"[ "$1" = get ] || {{ echo "unexpected action $1" >&2; exit 2; }}
url=$(cat)
[ "$url" = "{host}" ] || {{ echo "unexpected server URL '$url'" >&2; exit 3; }}
printf '{{"ServerURL":"%s","Username":"{USER}","Secret":"{PASSWORD}"}}' "$url""#
        ),
    );
    credential_helper(bin.path(), "sealed", "cat >/dev/null; echo 'the vault is sealed, run vault unseal' >&2; exit 1");
    credential_helper(bin.path(), "stuck", "exec sleep 300");
    let config = tempfile::tempdir().unwrap();
    let use_helper = |helpers: &str| {
        std::fs::write(config.path().join("config.json"), helpers.replace("HOST", &host)).unwrap();
    };

    use_helper(r#"{"credHelpers":{"HOST":"testvault"}}"#);
    let ok = scan_with_path(&target, &["--insecure"], Some(config.path()), Some(bin.path()));
    assert_same_as_local(&ok, &p.archive, &p.built[0]);
    // credsStore serves every registry without a credHelpers entry.
    use_helper(r#"{"credsStore":"testvault","credHelpers":{"elsewhere.example.com":"sealed"}}"#);
    let ok = scan_with_path(&target, &["--insecure"], Some(config.path()), Some(bin.path()));
    assert_same_as_local(&ok, &p.archive, &p.built[0]);

    // Skipped on request: anonymous, so the registry's refusal.
    let skipped = ["--insecure", "--no-credential-helpers"];
    let error = failure(&scan_with_path(&target, &skipped, Some(config.path()), Some(bin.path())));
    assert!(error.contains("requires a username and password"), "{error}");

    use_helper(r#"{"credHelpers":{"HOST":"sealed"}}"#);
    let error = failure(&scan_with_path(&target, &["--insecure"], Some(config.path()), Some(bin.path())));
    assert!(
        error.contains("docker-credential-sealed") && error.contains("the vault is sealed, run vault unseal"),
        "{error}"
    );

    use_helper(r#"{"credHelpers":{"HOST":"stuck"}}"#);
    let error = failure(&scan_with_path(&target, &["--insecure"], Some(config.path()), Some(bin.path())));
    assert!(error.contains("docker-credential-stuck") && error.contains("was stopped"), "{error}");

    use_helper(r#"{"credHelpers":{"HOST":"not-installed"}}"#);
    let error = failure(&scan_with_path(&target, &["--insecure"], Some(config.path()), Some(bin.path())));
    assert!(error.contains("docker-credential-not-installed is not on PATH"), "{error}");

    // Explicit flags win over the config: the helper is not asked.
    let flags = ["--insecure", "--username", USER, "--password", PASSWORD];
    let ok = scan_with_path(&target, &flags, Some(config.path()), Some(bin.path()));
    assert_same_as_local(&ok, &p.archive, &p.built[0]);
}

#[test]
fn platform_is_chosen_from_a_pushed_index() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("multi.tar");
    let amd64 = debian_spec("amd64", "only-on-amd64");
    let arm64 = debian_spec("arm64", "only-on-arm64");
    let built = write_oci_archive(&[(&amd64, Some("multi")), (&arm64, Some("multi"))], &archive, true);
    let registry = Registry::start(None);
    let index_digest = registry.push(&archive, "team/multi:1", None, true);
    assert_eq!(Some(&index_digest), built[0].index_digest.as_ref(), "skopeo kept the index as built");
    let target = format!("{}/team/multi:1", registry.host());

    let default = scan(&target, &["--insecure"], None);
    assert_eq!(default.code, 0, "{}", default.stderr);
    assert!(default.packages().iter().any(|(name, _)| name == "only-on-amd64"));
    assert_eq!(default.report["image"]["digest"], built[0].manifest_digest.as_str());

    let arm = scan(&target, &["--insecure", "--platform", "linux/arm64"], None);
    assert_eq!(arm.code, 0, "{}", arm.stderr);
    let names: Vec<String> = arm.packages().into_iter().map(|(name, _)| name).collect();
    assert!(names.contains(&"only-on-arm64".to_string()) && !names.contains(&"only-on-amd64".to_string()), "{names:?}");
    assert_eq!(arm.report["image"]["digest"], built[1].manifest_digest.as_str());

    let error = failure(&scan(&target, &["--insecure", "--platform", "linux/s390x"], None));
    assert!(error.contains("linux/s390x") && error.contains("linux/arm64"), "{error}");
}

#[test]
fn bearer_token_flow() {
    let p = pushed(None);
    let front = Front::start(&p.registry, Fault::Bearer { user: USER.into(), password: PASSWORD.into() });
    let target = format!("{}/team/app:1.0", front.host());

    let ok = scan(&target, &["--insecure", "--username", USER, "--password-stdin"], None);
    // --password-stdin with nothing on stdin is an empty password: refused by the token service.
    let error = failure(&ok);
    assert!(error.contains("token service") && error.contains("rejected"), "{error}");

    let ok = scan(&target, &["--insecure", "--username", USER, "--password", PASSWORD], None);
    assert_same_as_local(&ok, &p.archive, &p.built[0]);
    assert_eq!(front.tokens_issued.load(std::sync::atomic::Ordering::SeqCst), 1, "one token, cached for the scope");
    let seen = front.seen();
    let blobs: Vec<_> = seen.iter().filter(|s| s.path.contains("/blobs/")).collect();
    assert!(blobs.len() >= 4, "config and three layers: {seen:?}");
    assert!(
        blobs.iter().all(|s| s.status == 200 && s.authorization.as_deref() == Some("Bearer test-token-1")),
        "{seen:?}"
    );

    let error = failure(&scan(&target, &["--insecure"], None));
    assert!(error.contains("refused an anonymous token") && error.contains("--username"), "{error}");

    // An identity token in Docker's config is exchanged at the token service (OAuth2 refresh).
    let config = tempfile::tempdir().unwrap();
    let write_token = |token: &str| {
        let entry = format!(r#"{{"auths":{{"{}":{{"identitytoken":"{token}"}}}}}}"#, front.host());
        std::fs::write(config.path().join("config.json"), entry).unwrap();
    };
    write_token(REFRESH_TOKEN);
    let ok = scan(&target, &["--insecure"], Some(config.path()));
    assert_same_as_local(&ok, &p.archive, &p.built[0]);
    write_token("revoked-token");
    let error = failure(&scan(&target, &["--insecure"], Some(config.path())));
    assert!(error.contains("rejected the identity token") && !error.contains("revoked-token"), "{error}");
}

#[test]
fn a_connection_dropped_mid_layer_resumes_with_range() {
    let p = pushed(None);
    let layer = p.built[0].layer_digests[0].clone();
    let front = Front::start(&p.registry, Fault::DropOnce { blob: layer.clone() });
    let result = scan(&format!("{}/team/app:1.0", front.host()), &["--insecure"], None);
    assert_same_as_local(&result, &p.archive, &p.built[0]);
    let requests: Vec<_> = front.seen().into_iter().filter(|s| s.path.ends_with(&layer)).collect();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[0].status, 0, "the first was cut");
    let half = p.built[0].layer_sizes[0] / 2;
    assert_eq!(requests[1].range.as_deref(), Some(format!("bytes={half}-").as_str()), "resumed where it was cut");
    assert_eq!(requests[1].status, 206);
}

#[test]
fn throttling_and_server_errors_are_retried() {
    let p = pushed(None);
    let front = Front::start(&p.registry, Fault::Throttle { times: 4 });
    let result = scan(&format!("{}/team/app:1.0", front.host()), &["--insecure"], None);
    assert_same_as_local(&result, &p.archive, &p.built[0]);
    let statuses: Vec<u16> = front.seen().iter().map(|s| s.status).collect();
    assert_eq!(statuses.iter().filter(|&&s| s == 429).count(), 2, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|&&s| s == 503).count(), 2, "{statuses:?}");
}

#[test]
fn download_retries_bound_the_attempts() {
    let p = pushed(None);
    let target = |front: &Front| format!("{}/team/app:1.0", front.host());
    // Three 503s: more than one retry allows, fewer than the default.
    let front = Front::start(&p.registry, Fault::Unavailable { times: 3 });
    let error = failure(&scan(&target(&front), &["--insecure", "--download-retries", "1"], None));
    assert!(
        error.contains("2 attempts failed in a row") && error.contains("--download-retries") && error.contains("503"),
        "{error}"
    );

    let front = Front::start(&p.registry, Fault::Unavailable { times: 3 });
    let result = scan(&target(&front), &["--insecure"], None);
    assert_same_as_local(&result, &p.archive, &p.built[0]);
    let statuses: Vec<u16> = front.seen().iter().filter(|s| s.path.contains("/blobs/")).map(|s| s.status).collect();
    assert_eq!(statuses.iter().filter(|&&s| s == 503).count(), 3, "{statuses:?}");
}

#[test]
fn corrupted_layer_bytes_fail_that_layer_by_digest_never_a_wrong_result() {
    let p = pushed(None);
    let layer = p.built[0].layer_digests[1].clone();
    let front = Front::start(&p.registry, Fault::Corrupt { blob: layer.clone() });
    let result = scan(&format!("{}/team/app:1.0", front.host()), &["--insecure"], None);
    assert_eq!(result.code, 3, "incomplete report; stderr: {}", result.stderr);
    assert_eq!(result.report["complete"], false);
    let errors = result.errors();
    assert!(errors.contains("layer 2") && errors.contains(&layer) && errors.contains("digest mismatch"), "{errors}");
    // Layer 2's packages are not reported from corrupt bytes: what remains is layer 1's view.
    let packages = result.packages();
    assert!(!packages.iter().any(|(name, _)| name == "curl"), "{packages:?}");
    assert!(packages.contains(&("libc6".to_string(), "2.36-9".to_string())), "{packages:?}");
}
