use super::*;

fn file(path: &str, content: &[u8], mode: u32) -> File {
    File { mode, ..File::new(path, content) }
}

fn ids(findings: &[Finding]) -> Vec<(String, Option<String>)> {
    findings
        .iter()
        .filter_map(|f| match f {
            Finding::Issue(i) => Some((i.id.clone(), i.path.clone())),
            Finding::FileError(e) => Some((format!("error: {}", e.message), Some(e.path.clone()))),
            _ => None,
        })
        .collect()
}

fn pair(id: &str, path: &str) -> (String, Option<String>) {
    (id.to_string(), Some(path.to_string()))
}

#[test]
fn describe_lists_the_patterns() {
    assert_eq!(Config::NAME, "config");
    let patterns = Config::patterns();
    assert_eq!(patterns.len(), PATTERNS.len());
    assert!(patterns.iter().all(|p| !p.starts_with('/')));
}

#[test]
fn files_are_routed_to_their_checks() {
    let key = b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n";
    let files = [
        file("/root/.ssh/id_ed25519", key, 0o100600),
        file("./root/.aws/credentials", b"[default]\naws_secret_access_key=abc\n", 0o100600),
        file("usr/local/etc/npmrc", b"_authToken=abcdef\n", 0o100644),
        file(".npmrc", b"_authToken=abcdef\n", 0o100644),
        file("root/.docker/config.json", br#"{"auths":{"r.example":{"auth":"YTpi"}}}"#, 0o100644),
        file("etc/passwd", b"root:x:0:0::/root:/bin/sh\nbin::1:1::/:/bin/false\n", 0o100644),
        file("etc/shadow", b"root:*:1::::::\n", 0o100640),
        file("etc/sudoers.d/ci", b"ci ALL=(ALL) NOPASSWD: ALL\n", 0o100440),
        file("etc/ssh/sshd_config", b"PermitRootLogin yes\n", 0o100644),
        file("var/lib/apt/lists/x_InRelease", b"", 0o100644),
        // Not a regular file (a directory entry): ignored.
        file("etc/ssl/private/dir.key", key, 0o040755),
    ];
    let found = analyze("{}", &files);
    assert_eq!(
        ids(&found),
        [
            pair("CFG-013", ".npmrc"),
            pair("CFG-015", "etc/passwd"),
            pair("CFG-020", "etc/sudoers.d/ci"),
            pair("CFG-012", "root/.aws/credentials"),
            pair("CFG-014", "root/.docker/config.json"),
            pair("CFG-011", "root/.ssh/id_ed25519"),
            pair("CFG-013", "usr/local/etc/npmrc"),
            pair("CFG-017", "etc/ssh/sshd_config"),
            pair("CFG-008", "var/lib/apt/lists/x_InRelease"),
        ]
    );
}

#[test]
fn config_user_is_looked_up_in_passwd() {
    let config = r#"{"os":"linux","config":{"User":"toor","Healthcheck":{"Test":["CMD","true"]}}}"#;
    let passwd = file("etc/passwd", b"root:x:0:0::/root:/bin/sh\ntoor:x:0:0::/:/bin/sh\n", 0o100644);
    let found = analyze(config, &[passwd]);
    assert_eq!(ids(&found), [("CFG-001".to_string(), None), pair("CFG-016", "etc/passwd")]);
    assert!(ids(&analyze(config, &[])).is_empty());
}

#[test]
fn bad_config_is_a_file_error_not_a_failure() {
    let found = analyze("not json", &[file("etc/ssh/sshd_config", b"PermitRootLogin yes\n", 0)]);
    let got = ids(&found);
    assert_eq!(got.len(), 2);
    assert!(got[0].0.starts_with("error: the image config is not valid JSON"), "{got:?}");
    assert_eq!(got[0].1.as_deref(), Some("(image config)"));
    assert_eq!(got[1], pair("CFG-017", "etc/ssh/sshd_config"));
}

#[test]
fn hostile_files_do_not_panic() {
    let noise: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    let text_noise: Vec<u8> = b"::\n:\n\\\n[\n=\n#\n-----BEGIN \n".repeat(20_000);
    let mut files = Vec::new();
    for path in [
        "root/.ssh/id_rsa",
        "root/.aws/credentials",
        "root/.npmrc",
        "root/.docker/config.json",
        "etc/passwd",
        "etc/shadow",
        "etc/sudoers",
        "etc/ssh/sshd_config",
    ] {
        files.push(file(path, &noise, 0o100644));
        files.push(file(&format!("srv/{path}"), &text_noise, 0o100644));
    }
    files.push(file("etc/ssh/sshd_config.d/x", &text_noise, 0o100644));
    let found = analyze("{}", &files);
    // Each binary configuration file (7) and the text that is not JSON (1) is one file error.
    let errors = found.iter().filter(|f| matches!(f, Finding::FileError(_))).count();
    assert_eq!(errors, 8);
}
