//! The config analyzer end to end: for every check (docs/checks.md), an image with the
//! misconfiguration and one without, built here and scanned by the real `ecr-engine` binary; the
//! JSON report's issues are checked exactly (id, path, history step, layer), secrets are checked to
//! appear nowhere in the output, and `--skip-check` is exercised.

mod common;

use common::cli::{self, ScanResult};
use common::image::*;
use serde_json::{Value, json};

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n";
const SHADOW: &str = "root:*:19000:0:99999:7:::\napp:!:19000::::::\n";

/// (id, path, history index, layer index) of one expected issue.
type Want<'a> = (&'a str, Option<&'a str>, Option<u64>, Option<usize>);
/// (id, path, history index, layer digest) of one issue of a report.
type Got = (String, Option<String>, Option<u64>, Option<String>);

/// A config with none of the config-level problems: non-root user, a health check.
fn good_config() -> Value {
    json!({"User": "1000", "Healthcheck": {"Test": ["CMD", "/app/healthcheck"]}, "Env": ["PATH=/usr/bin:/bin"]})
}

fn base_layer() -> Layer {
    Layer::gzip(vec![
        Entry::file("etc/os-release", os_release("debian", "12", "Debian GNU/Linux 12 (bookworm)")),
        Entry::file("etc/passwd", PASSWD),
        Entry::file_mode("etc/shadow", SHADOW, 0o640),
    ])
}

/// Base layer plus one layer with `entries`, the good config, and history `base`, `app`.
fn image_with_files(entries: Vec<Entry>) -> ImageSpec {
    ImageSpec::new(vec![base_layer(), Layer::gzip(entries)]).with_config(good_config())
}

fn image_with_config(config: Value) -> ImageSpec {
    ImageSpec::new(vec![base_layer()]).with_config(config)
}

/// The good config with `key` set to `value`.
fn config_with(key: &str, value: Value) -> Value {
    let mut c = good_config();
    c[key] = value;
    c
}

fn scan_with(spec: &ImageSpec, extra: &[&str]) -> (ScanResult, BuiltImage) {
    let dir = tempfile::tempdir().unwrap();
    let built = write_oci_layout(&[(spec, Some("latest"))], dir.path(), false).remove(0);
    (cli::scan(&format!("oci:{}:latest", dir.path().display()), extra), built)
}

fn scan(spec: &ImageSpec) -> (ScanResult, BuiltImage) {
    scan_with(spec, &[])
}

fn assert_complete(result: &ScanResult) {
    assert_eq!(result.code, 0, "exit code; errors: {}; stderr: {}", result.errors(), result.stderr);
    assert_eq!(result.report["complete"], true);
    assert_eq!(result.plugin("config")["status"], "ok");
}

fn issues(result: &ScanResult) -> &Vec<Value> {
    result.report["issues"].as_array().expect("issues array")
}

/// Asserts the report's issues, in report order, are exactly `want`, all from the config plugin,
/// each with a title, a description and a remediation.
fn assert_issues(result: &ScanResult, built: &BuiltImage, want: &[Want<'_>]) {
    let got: Vec<Got> = issues(result)
        .iter()
        .map(|i| {
            assert_eq!(i["plugin"], "config", "{i:#}");
            for field in ["title", "description", "remediation"] {
                assert!(!i[field].as_str().unwrap_or_default().is_empty(), "{field} of {i:#}");
            }
            (
                i["id"].as_str().unwrap().to_string(),
                i["path"].as_str().map(str::to_string),
                i["history_index"].as_u64(),
                i["layer"].as_str().map(str::to_string),
            )
        })
        .collect();
    let want: Vec<Got> = want
        .iter()
        .map(|(id, path, history, layer)| {
            (id.to_string(), path.map(str::to_string), *history, layer.map(|l| built.layer_digests[l].clone()))
        })
        .collect();
    assert_eq!(got, want, "issues: {:#}", result.report["issues"]);
}

fn issue<'a>(result: &'a ScanResult, id: &str) -> &'a Value {
    issues(result).iter().find(|i| i["id"] == id).unwrap_or_else(|| panic!("no {id}: {:#}", result.report["issues"]))
}

/// Scans `bad` and `good`: `bad` has exactly `want`, `good` has no issue at all.
fn both_ways(bad: &ImageSpec, good: &ImageSpec, want: &[Want<'_>]) -> ScanResult {
    let (clean, clean_built) = scan(good);
    assert_complete(&clean);
    assert_issues(&clean, &clean_built, &[]);
    let (result, built) = scan(bad);
    assert_complete(&result);
    assert_issues(&result, &built, want);
    result
}

// Fake credentials in valid formats, built at run time so no token literal sits in the source.
fn github_token() -> String {
    format!("ghp_{}", "Zq8Rt5Wn2Lp".repeat(4).get(..36).unwrap())
}
fn aws_key_id() -> String {
    format!("AKIA{}", "J4K7XWQ2M9TR5BPE")
}
fn npm_token() -> String {
    format!("npm_{}", "Hc7Ng3Yx9Dk".repeat(4).get(..36).unwrap())
}
const AWS_SECRET: &str = "h8Yq2Lk5Rw9Tz3Mn7Bv1Xc4Fd6Gs0Pj/aQeU+iOo";

/// The table report (the default format) of a scan of `spec`.
fn table_output(spec: &ImageSpec) -> String {
    let dir = tempfile::tempdir().unwrap();
    write_oci_layout(&[(spec, Some("latest"))], dir.path(), false);
    let plugins = tempfile::tempdir().unwrap();
    let output = cli::command()
        .arg("scan")
        .arg(format!("oci:{}:latest", dir.path().display()))
        .arg("--plugins-dir")
        .arg(plugins.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap() + &String::from_utf8_lossy(&output.stderr)
}

fn assert_nowhere(secret: &str, result: &ScanResult, table: &str) {
    let json = result.report.to_string();
    assert!(!json.contains(secret), "secret in the JSON report: {json}");
    assert!(!result.stderr.contains(secret), "secret on stderr");
    assert!(!table.contains(secret), "secret in the table report: {table}");
}

#[test]
fn cfg001_runs_as_root() {
    for user in [json!(""), json!("root"), json!("0:0")] {
        let bad = image_with_config(config_with("User", user.clone()));
        let result = both_ways(&bad, &image_with_config(good_config()), &[("CFG-001", None, None, None)]);
        assert_eq!(issue(&result, "CFG-001")["severity"], "MEDIUM", "{user}");
    }
    // A named user is looked up in the image's /etc/passwd: uid 0 is root whatever its name.
    let toor = ImageSpec::new(vec![
        base_layer(),
        Layer::gzip(vec![Entry::file("etc/passwd", format!("{PASSWD}toor:x:0:0::/root:/bin/sh\n"))]),
    ])
    .with_config(config_with("User", json!("toor")));
    let (result, built) = scan(&toor);
    assert_complete(&result);
    // HIGH before MEDIUM: the report sorts by severity.
    assert_issues(&result, &built, &[("CFG-016", Some("etc/passwd"), None, Some(1)), ("CFG-001", None, None, None)]);
    // --skip-check leaves it out (any case), and only it.
    let (skipped, built) = scan_with(&toor, &["--skip-check", "cfg-001"]);
    assert_issues(&skipped, &built, &[("CFG-016", Some("etc/passwd"), None, Some(1))]);
}

#[test]
fn cfg002_secret_in_env_is_reported_and_redacted() {
    let (token, key_id) = (github_token(), aws_key_id());
    let env = json!([
        "PATH=/usr/bin:/bin",
        format!("GITHUB_TOKEN={token}"),
        format!("AWS_ACCESS_KEY_ID={key_id}"),
        format!("AWS_SECRET_ACCESS_KEY={AWS_SECRET}"),
    ]);
    let bad = image_with_config(config_with("Env", env));
    let result = both_ways(
        &bad,
        &image_with_config(good_config()),
        &[("CFG-002", None, None, None), ("CFG-002", None, None, None), ("CFG-002", None, None, None)],
    );
    let titles: Vec<&str> = issues(&result).iter().map(|i| i["title"].as_str().unwrap()).collect();
    assert_eq!(
        titles,
        [
            "GitHub token in environment variable GITHUB_TOKEN",
            "AWS access key ID in environment variable AWS_ACCESS_KEY_ID",
            "AWS secret access key in environment variable AWS_SECRET_ACCESS_KEY",
        ]
    );
    assert_eq!(issues(&result)[0]["severity"], "CRITICAL");
    assert!(issues(&result)[0]["description"].as_str().unwrap().contains("(ghp_…)"));
    assert!(issues(&result)[1]["description"].as_str().unwrap().contains("(AKIA…)"));
    let table = table_output(&bad);
    assert!(table.contains("CFG-002"), "{table}");
    for secret in [token.as_str(), key_id.as_str(), AWS_SECRET, &AWS_SECRET[..8]] {
        assert_nowhere(secret, &result, &table);
    }
}

#[test]
fn cfg003_secret_in_label() {
    let token = npm_token();
    let labels = json!({"org.opencontainers.image.title": "app", "ci.publish-token": token});
    let bad = image_with_config(config_with("Labels", labels));
    let good = image_with_config(config_with("Labels", json!({"org.opencontainers.image.title": "app"})));
    let result = both_ways(&bad, &good, &[("CFG-003", None, None, None)]);
    assert_eq!(issue(&result, "CFG-003")["title"], "npm access token in label ci.publish-token");
    assert_nowhere(&token, &result, &table_output(&bad));
}

/// History of three steps over two layers, the middle one creating no layer.
fn history(app_step: &str) -> Vec<Value> {
    vec![
        json!({"created_by": "/bin/sh -c #(nop) ADD file:3b6cf5 in / "}),
        json!({"created_by": "ENV APP_HOME=/app", "empty_layer": true, "comment": "buildkit.dockerfile.v0"}),
        json!({"created_by": app_step, "comment": "buildkit.dockerfile.v0"}),
    ]
}

fn image_with_history(app_step: &str) -> ImageSpec {
    image_with_files(vec![Entry::file("app/main.sh", "#!/bin/sh\n")]).with_history(history(app_step))
}

#[test]
fn cfg004_secret_in_history() {
    let token = github_token();
    let bad = image_with_history(&format!(
        "RUN /bin/sh -c git clone https://x-access-token:{token}@github.com/org/app.git /app # buildkit"
    ));
    let good = image_with_history("RUN /bin/sh -c git clone https://github.com/org/app.git /app # buildkit");
    // Step 2 created the second layer (step 1 is an empty layer).
    let result = both_ways(&bad, &good, &[("CFG-004", None, Some(2), Some(1))]);
    assert_eq!(issue(&result, "CFG-004")["title"], "GitHub token in build step 2");
    assert_nowhere(&token, &result, &table_output(&bad));
}

#[test]
fn cfg005_credential_like_variables() {
    let bad = image_with_config(config_with("Env", json!(["PATH=/usr/bin", "DB_PASSWORD=Tr0ub4dor&3"])));
    let good = image_with_config(config_with(
        "Env",
        json!([
            "PATH=/usr/bin",
            "DB_PASSWORD_FILE=/run/secrets/db",
            "ALLOW_EMPTY_PASSWORD=no",
            "GPG_KEY=A4A9406876FCBD3C456770C88C718D3B5072E1F5"
        ]),
    ));
    let result = both_ways(&bad, &good, &[("CFG-005", None, None, None)]);
    assert_eq!(issue(&result, "CFG-005")["title"], "Environment variable DB_PASSWORD looks like a credential");
    assert_nowhere("Tr0ub4dor", &result, &table_output(&bad));
    // A build argument recorded in the history of a RUN step.
    let bad = image_with_history("RUN |2 API_TOKEN=s3cr3t-v4lue LEVEL=3 /bin/sh -c make # buildkit");
    let good = image_with_history("RUN |1 LEVEL=3 /bin/sh -c make # buildkit");
    let result = both_ways(&bad, &good, &[("CFG-005", None, Some(2), Some(1))]);
    assert_eq!(issue(&result, "CFG-005")["title"], "Build argument API_TOKEN looks like a credential");
    assert_nowhere("s3cr3t-v4lue", &result, &table_output(&bad));
}

#[test]
fn cfg006_add_remote_url() {
    let bad = image_with_history("ADD https://deploy:pw@downloads.example.com/app.tgz?sig=abc /app/ # buildkit");
    let good = image_with_history(
        "ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d \
         https://downloads.example.com/app.tgz /app/ # buildkit",
    );
    let result = both_ways(&bad, &good, &[("CFG-006", None, Some(2), Some(1))]);
    let description = issue(&result, "CFG-006")["description"].as_str().unwrap();
    assert!(description.contains("https://downloads.example.com/app.tgz "), "{description}");
    assert!(!description.contains("deploy:pw") && !description.contains("sig=abc"), "{description}");
    assert_eq!(issue(&result, "CFG-006")["severity"], "LOW");
}

#[test]
fn cfg007_remote_script_piped_to_shell() {
    let bad = image_with_history("RUN /bin/sh -c curl -fsSL https://get.example.com/install.sh | sh # buildkit");
    let good = image_with_history(
        "RUN /bin/sh -c curl -fsSLo /tmp/i.sh https://get.example.com/install.sh && sha256sum -c i.sha256 && sh /tmp/i.sh # buildkit",
    );
    let result = both_ways(&bad, &good, &[("CFG-007", None, Some(2), Some(1))]);
    assert!(issue(&result, "CFG-007")["description"].as_str().unwrap().contains("https://get.example.com/install.sh"));
}

#[test]
fn cfg008_package_cache_left_in_a_layer() {
    let lists = "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease";
    let npm = "root/.npm/_cacache/index-v5/3f/a2/9c1e0b";
    let bad = ImageSpec::new(vec![
        base_layer(),
        Layer::gzip(vec![Entry::file(lists, "Origin: Debian\n"), Entry::file(npm, "0123\t{}\n")]),
        Layer::gzip(vec![Entry::file("app/main.sh", "#!/bin/sh\n")]),
    ])
    .with_config(good_config());
    // The same files removed by a later layer (whiteouts): nothing left in the image.
    let good = ImageSpec::new(vec![
        base_layer(),
        Layer::gzip(vec![Entry::file(lists, "Origin: Debian\n"), Entry::file(npm, "0123\t{}\n")]),
        Layer::gzip(vec![Entry::whiteout(lists), Entry::whiteout("root/.npm")]),
    ])
    .with_config(good_config());
    let result =
        both_ways(&bad, &good, &[("CFG-008", Some(npm), None, Some(1)), ("CFG-008", Some(lists), None, Some(1))]);
    let titles: Vec<&str> = issues(&result).iter().map(|i| i["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["npm package cache left in /root/.npm", "apt package cache left in /var/lib/apt/lists"]);
}

#[test]
fn cfg009_no_healthcheck() {
    let mut none = good_config();
    none.as_object_mut().unwrap().remove("Healthcheck");
    both_ways(&image_with_config(none), &image_with_config(good_config()), &[("CFG-009", None, None, None)]);
    let disabled = config_with("Healthcheck", json!({"Test": ["NONE"]}));
    let (result, built) = scan(&image_with_config(disabled));
    assert_issues(&result, &built, &[("CFG-009", None, None, None)]);
}

#[test]
fn cfg010_ssh_port_exposed() {
    let bad = image_with_config(config_with("ExposedPorts", json!({"22/tcp": {}, "8080/tcp": {}})));
    let good = image_with_config(config_with("ExposedPorts", json!({"2222/tcp": {}, "8080/tcp": {}})));
    both_ways(&bad, &good, &[("CFG-010", None, None, None)]);
}

#[test]
fn cfg011_private_key_files() {
    let key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n\
               -----END OPENSSH PRIVATE KEY-----\n";
    let cert = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUZ\n-----END CERTIFICATE-----\n";
    let bad = image_with_files(vec![
        Entry::file_mode("root/.ssh/id_ed25519", key, 0o600),
        Entry::file("root/.ssh/id_ed25519.pub", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI user@host\n"),
        Entry::file("etc/ssl/certs/app.pem", cert),
    ]);
    let good = image_with_files(vec![
        Entry::file("root/.ssh/id_ed25519.pub", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI user@host\n"),
        Entry::file("etc/ssl/certs/app.pem", cert),
    ]);
    let result = both_ways(&bad, &good, &[("CFG-011", Some("root/.ssh/id_ed25519"), None, Some(1))]);
    assert_eq!(issue(&result, "CFG-011")["severity"], "HIGH");
    assert_nowhere("b3BlbnNzaC1rZXktdjEAAAAABG5vbmU", &result, &table_output(&bad));
}

#[test]
fn cfg012_aws_credentials_file() {
    let creds = format!("[default]\naws_access_key_id = {}\naws_secret_access_key = {AWS_SECRET}\n", aws_key_id());
    let bad = image_with_files(vec![Entry::file_mode("root/.aws/credentials", creds, 0o600)]);
    let good = image_with_files(vec![Entry::file("root/.aws/config", "[default]\nregion = eu-west-1\n")]);
    let result = both_ways(&bad, &good, &[("CFG-012", Some("root/.aws/credentials"), None, Some(1))]);
    assert_eq!(issue(&result, "CFG-012")["title"], "AWS secret access key for profile default");
    assert_nowhere(AWS_SECRET, &result, &table_output(&bad));
}

#[test]
fn cfg013_npmrc_token() {
    let token = npm_token();
    let bad = image_with_files(vec![Entry::file(
        "home/node/.npmrc",
        format!("registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken={token}\n"),
    )]);
    let good = image_with_files(vec![Entry::file(
        "home/node/.npmrc",
        "registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken=${NPM_TOKEN}\n",
    )]);
    let result = both_ways(&bad, &good, &[("CFG-013", Some("home/node/.npmrc"), None, Some(1))]);
    assert_eq!(issue(&result, "CFG-013")["title"], "npm credential (_authToken) for //registry.npmjs.org/");
    assert_nowhere(&token, &result, &table_output(&bad));
}

#[test]
fn cfg014_docker_registry_credentials() {
    let auth = "ZGVwbG95OlMzY3JldFBhc3N3b3JkIQ==";
    let bad = image_with_files(vec![Entry::file(
        "root/.docker/config.json",
        json!({"auths": {"123456789012.dkr.ecr.us-east-1.amazonaws.com": {"auth": auth}}}).to_string(),
    )]);
    let good = image_with_files(vec![Entry::file(
        "root/.docker/config.json",
        json!({"auths": {"123456789012.dkr.ecr.us-east-1.amazonaws.com": {}}, "credsStore": "ecr-login"}).to_string(),
    )]);
    let result = both_ways(&bad, &good, &[("CFG-014", Some("root/.docker/config.json"), None, Some(1))]);
    assert_eq!(
        issue(&result, "CFG-014")["title"],
        "Registry credentials for 123456789012.dkr.ecr.us-east-1.amazonaws.com"
    );
    assert_nowhere(auth, &result, &table_output(&bad));
}

#[test]
fn cfg014_unreadable_docker_config_is_a_file_error() {
    let (result, built) = scan(&image_with_files(vec![
        Entry::file("root/.docker/config.json", "{\"auths\": {"),
        Entry::file("etc/sudoers.d/ci", "ci ALL=(ALL) NOPASSWD: ALL\n"),
    ]));
    // The scan is incomplete and says which file; the plugin's other findings are kept.
    assert_eq!(result.code, 3, "{}", result.stderr);
    assert_eq!(result.report["complete"], false);
    let plugin = result.plugin("config");
    assert_eq!(plugin["status"], "incomplete");
    assert!(plugin["error"].as_str().unwrap().starts_with("root/.docker/config.json: not valid JSON"), "{plugin}");
    assert_issues(&result, &built, &[("CFG-020", Some("etc/sudoers.d/ci"), None, Some(1))]);
}

#[test]
fn cfg015_empty_password() {
    let bad =
        image_with_files(vec![Entry::file_mode("etc/shadow", "root::19000:0:99999:7:::\napp:!:19000::::::\n", 0o640)]);
    let good = image_with_files(vec![Entry::file_mode(
        "etc/shadow",
        "root:$6$rounds=5000$salt$hash:19000:0:99999:7:::\napp:!:19000::::::\n",
        0o640,
    )]);
    let result = both_ways(&bad, &good, &[("CFG-015", Some("etc/shadow"), None, Some(1))]);
    assert_eq!(issue(&result, "CFG-015")["title"], "Account root has an empty password");
}

#[test]
fn cfg016_extra_uid0_account() {
    let bad = image_with_files(vec![Entry::file("etc/passwd", format!("{PASSWD}backup:x:0:0::/root:/bin/sh\n"))]);
    let good = image_with_files(vec![Entry::file(
        "etc/passwd",
        format!("{PASSWD}backup:x:34:34::/var/backups:/usr/sbin/nologin\n"),
    )]);
    let result = both_ways(&bad, &good, &[("CFG-016", Some("etc/passwd"), None, Some(1))]);
    assert_eq!(issue(&result, "CFG-016")["title"], "Account backup has uid 0");
}

const SSHD_MAIN: &str = "Include /etc/ssh/sshd_config.d/*.conf\nKbdInteractiveAuthentication no\nUsePAM yes\n";

fn sshd_image(main: &str, drop_in: &str) -> ImageSpec {
    image_with_files(vec![
        Entry::file("etc/ssh/sshd_config", main),
        Entry::file("etc/ssh/sshd_config.d/50-local.conf", drop_in),
    ])
}

#[test]
fn cfg017_to_019_sshd_settings() {
    let hardened = "PermitRootLogin prohibit-password\nPasswordAuthentication no\nPermitEmptyPasswords no\n";
    let good = sshd_image(&format!("{SSHD_MAIN}PermitRootLogin yes\n"), hardened);
    // PermitRootLogin in the main file after the Include; the drop-in read first wins.
    let main = "etc/ssh/sshd_config";
    let drop_in = "etc/ssh/sshd_config.d/50-local.conf";
    let bad =
        sshd_image(&format!("{SSHD_MAIN}# PermitRootLogin no\npermitrootlogin YES\n"), "PasswordAuthentication yes\n");
    both_ways(&bad, &good, &[("CFG-017", Some(main), None, Some(1)), ("CFG-018", Some(drop_in), None, Some(1))]);
    let bad = sshd_image(SSHD_MAIN, "PermitEmptyPasswords=yes\n");
    both_ways(&bad, &good, &[("CFG-019", Some(drop_in), None, Some(1))]);
}

#[test]
fn cfg020_sudo_nopasswd() {
    let bad = image_with_files(vec![Entry::file_mode("etc/sudoers.d/app", "app ALL=(ALL) NOPASSWD: ALL\n", 0o440)]);
    let good =
        image_with_files(vec![Entry::file_mode("etc/sudoers.d/app", "app ALL=(ALL) /usr/bin/systemctl\n", 0o440)]);
    let result = both_ways(&bad, &good, &[("CFG-020", Some("etc/sudoers.d/app"), None, Some(1))]);
    assert_eq!(issue(&result, "CFG-020")["title"], "sudo without a password for app");
}

/// Several problems at once: the report orders them by severity, then id; `--skip-check` takes a
/// comma-separated list.
#[test]
fn many_issues_sorted_and_skipped() {
    let spec = ImageSpec::new(vec![
        base_layer(),
        Layer::gzip(vec![Entry::file("var/cache/apk/APKINDEX.5022a8a2.tar.gz", "not read")]),
        Layer::gzip(vec![Entry::file_mode("etc/sudoers.d/app", "app ALL=(ALL) NOPASSWD: ALL\n", 0o440)]),
    ])
    .with_config(json!({"ExposedPorts": {"22/tcp": {}}, "Env": [format!("NPM_TOKEN={}", npm_token())]}))
    .with_history(vec![
        json!({"created_by": "/bin/sh -c #(nop) ADD file:3b6cf5 in / "}),
        json!({"created_by": "RUN /bin/sh -c apk add curl # buildkit"}),
        json!({"created_by": "EXPOSE map[22/tcp:{}]", "empty_layer": true}),
        json!({"created_by": "COPY app /etc/sudoers.d/app # buildkit"}),
    ]);
    let (result, built) = scan(&spec);
    assert_complete(&result);
    assert_issues(
        &result,
        &built,
        &[
            ("CFG-002", None, None, None),
            ("CFG-001", None, None, None),
            ("CFG-010", None, None, None),
            ("CFG-020", Some("etc/sudoers.d/app"), None, Some(2)),
            ("CFG-008", Some("var/cache/apk/APKINDEX.5022a8a2.tar.gz"), None, Some(1)),
            ("CFG-009", None, None, None),
        ],
    );
    let (skipped, built) = scan_with(&spec, &["--skip-check", "CFG-008,CFG-009", "--skip-check", "CFG-001"]);
    assert_issues(
        &skipped,
        &built,
        &[
            ("CFG-002", None, None, None),
            ("CFG-010", None, None, None),
            ("CFG-020", Some("etc/sudoers.d/app"), None, Some(2)),
        ],
    );
}
