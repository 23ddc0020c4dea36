use super::*;
use ecr_plugin_kit::Issue;

fn f<'a>(path: &'a str, content: &'a str) -> ImageFile<'a> {
    ImageFile { path, content: content.as_bytes() }
}

/// `(id, path, title)` of every issue, and the messages of the file errors.
fn split(out: &[Finding]) -> (Vec<(String, String, String)>, Vec<String>) {
    let mut issues = Vec::new();
    let mut errors = Vec::new();
    for finding in out {
        match finding {
            Finding::Issue(Issue { id, path, title, .. }) => {
                issues.push((id.clone(), path.clone().unwrap_or_default(), title.clone()))
            }
            Finding::FileError(e) => errors.push(format!("{}: {}", e.path, e.message)),
            _ => {}
        }
    }
    (issues, errors)
}

fn one(run: impl Fn(&ImageFile<'_>, &mut Vec<Finding>), path: &str, content: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    run(&f(path, content), &mut out);
    let (issues, errors) = split(&out);
    assert!(errors.is_empty(), "{errors:?}");
    issues.into_iter().map(|(id, _, title)| (id, title)).collect()
}

fn t(id: &str, title: &str) -> (String, String) {
    (id.to_string(), title.to_string())
}

fn all_text(out: &[Finding]) -> String {
    format!("{out:?}")
}

#[test]
fn key_candidates_match_the_patterns() {
    for yes in [
        "root/.ssh/id_rsa",
        "home/a/.ssh/id_ed25519.pub",
        ".ssh/id_ecdsa",
        "srv/id_rsa",
        "app/tls/server.key",
        "etc/ssl/private/ssl-cert-snakeoil.key",
        "etc/ssl/private/anything",
        "opt/x/cert.pem",
        "etc/ssh/ssh_host_ed25519_key",
    ] {
        assert!(is_key_candidate(yes), "{yes}");
    }
    for no in ["etc/ssh/ssh_host_ed25519_key.pub", "root/.ssh/known_hosts", "etc/passwd", "id_rsa.bak"] {
        assert!(!is_key_candidate(no), "{no}");
    }
}

#[test]
fn private_keys_by_content() {
    let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\n";
    let legacy_enc = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nabc\n";
    let bundle = format!("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n{pem}");
    let mut out = Vec::new();
    private_key(&f("root/.ssh/id_rsa", pem), &mut out);
    private_key(&f("etc/ssh/ssh_host_rsa_key", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n"), &mut out);
    private_key(&f("app/a.pem", &bundle), &mut out);
    private_key(&f("app/b.key", legacy_enc), &mut out);
    private_key(&f("app/c.key", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMII\n"), &mut out);
    // Public keys, certificates, empty and binary files: nothing.
    private_key(&f("root/.ssh/id_rsa.pub", "ssh-rsa AAAAB3NzaC1yc2E user@host\n"), &mut out);
    private_key(&f("app/cert.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n"), &mut out);
    private_key(&f("app/pub.pem", "-----BEGIN PUBLIC KEY-----\nMIIB\n"), &mut out);
    private_key(&f("app/empty.key", ""), &mut out);
    private_key(&ImageFile { path: "app/bin.key", content: &[0xff, 0, 0x2d, 0x2d] }, &mut out);
    let (issues, errors) = split(&out);
    assert!(errors.is_empty());
    let got: Vec<(&str, &str)> = issues.iter().map(|(_, p, t)| (p.as_str(), t.as_str())).collect();
    assert_eq!(
        got,
        [
            ("root/.ssh/id_rsa", "Private key in the image"),
            ("etc/ssh/ssh_host_rsa_key", "SSH host private key in the image"),
            ("app/a.pem", "Private key in the image"),
            ("app/b.key", "Private key in the image"),
            ("app/c.key", "Private key in the image"),
        ]
    );
    let descriptions: Vec<bool> = out
        .iter()
        .map(|x| match x {
            Finding::Issue(i) => i.description.contains("an encrypted private key"),
            _ => false,
        })
        .collect();
    assert_eq!(descriptions, [false, false, false, true, true]);
    assert!(!all_text(&out).contains("MIIEpAIBAAKCAQEA"));
    // A header past the scanned prefix is not looked for.
    let late = format!("{}{pem}", "x".repeat(MAX_KEY_SCAN_BYTES));
    let mut late_out = Vec::new();
    private_key(&f("big.pem", &late), &mut late_out);
    assert!(late_out.is_empty());
}

#[test]
fn aws_credentials_per_profile() {
    let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKE";
    let content = format!(
        "[default]\naws_access_key_id = AKIAQ7ZX3MPLE5RT2VWY\naws_secret_access_key = {secret}\n\n\
         [profile ci]\nAWS_SECRET_ACCESS_KEY={secret}\n[empty]\naws_secret_access_key =\nregion=us-east-1\n"
    );
    let mut out = Vec::new();
    aws_credentials(&f("root/.aws/credentials", &content), &mut out);
    let (issues, _) = split(&out);
    let titles: Vec<&str> = issues.iter().map(|i| i.2.as_str()).collect();
    assert_eq!(titles, ["AWS secret access key for profile default", "AWS secret access key for profile ci"]);
    assert!(!all_text(&out).contains(secret) && !all_text(&out).contains("AKIAQ7ZX"));
    assert!(one(aws_credentials, "root/.aws/config", "[default]\nregion = eu-west-1\n").is_empty());
}

#[test]
fn npmrc_tokens() {
    let token = format!("npm_{}", "Q1w2E3r4T5".repeat(4).get(..36).unwrap());
    let content = format!(
        "registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken={token}\n\
         //npm.example.com/:_authToken=${{NPM_TOKEN}}\n; _auth=commented\n_auth=\"dXNlcjpwYXNz\"\n\
         //r.example/:_password=cGFzcw==\nemail=a@b.c\n_authToken=\n"
    );
    let mut out = Vec::new();
    npmrc(&f("home/node/.npmrc", &content), &mut out);
    let (issues, _) = split(&out);
    let titles: Vec<&str> = issues.iter().map(|i| i.2.as_str()).collect();
    assert_eq!(
        titles,
        [
            "npm credential (_authToken) for //registry.npmjs.org/",
            "npm credential (_auth) for the default registry",
            "npm credential (_password) for //r.example/",
        ]
    );
    let text = all_text(&out);
    assert!(!text.contains(&token) && !text.contains("dXNlcjpwYXNz") && !text.contains("cGFzcw"), "{text}");
    assert!(text.contains("(npm_…)"));
}

#[test]
fn docker_auths() {
    let config = r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpwYXNzd29yZA=="},
        "123456789012.dkr.ecr.us-east-1.amazonaws.com":{},"ghcr.io":{"auth":""},
        "quay.io":{"identitytoken":"tok-123"}},"credsStore":"ecr-login"}"#;
    let mut out = Vec::new();
    docker_config(&f("root/.docker/config.json", config), &mut out);
    docker_config(&f("root/.dockercfg", r#"{"registry.example.com":{"auth":"YTpi","email":"a@b.c"}}"#), &mut out);
    docker_config(&f("home/x/.docker/config.json", r#"{"credsStore":"desktop"}"#), &mut out);
    docker_config(&f("home/y/.docker/config.json", "{not json"), &mut out);
    let (issues, errors) = split(&out);
    let got: Vec<(&str, &str)> = issues.iter().map(|(_, p, t)| (p.as_str(), t.as_str())).collect();
    assert_eq!(
        got,
        [
            ("root/.docker/config.json", "Registry credentials for https://index.docker.io/v1/"),
            ("root/.docker/config.json", "Registry credentials for quay.io"),
            ("root/.dockercfg", "Registry credentials for registry.example.com"),
        ]
    );
    assert_eq!(errors.len(), 1);
    assert!(errors[0].starts_with("home/y/.docker/config.json: not valid JSON"), "{errors:?}");
    let text = all_text(&out);
    assert!(!text.contains("dXNlcjpwYXNzd29yZA") && !text.contains("tok-123") && !text.contains("YTpi"));
}

#[test]
fn accounts() {
    let passwd_text = "root:x:0:0:root:/root:/bin/bash\n# comment\ntoor:x:0:0::/root:/bin/sh\n\
                       guest::1001:1001::/home/guest:/bin/sh\nbad\n+nis\nsvc:x:00:0::/:/bin/false\n\
                       app:x:1000:1000::/app:/bin/sh\n";
    assert_eq!(
        one(passwd, "etc/passwd", passwd_text),
        [
            t("CFG-016", "Account toor has uid 0"),
            t("CFG-015", "Account guest has an empty password"),
            t("CFG-016", "Account svc has uid 0"),
        ]
    );
    let shadow_text = "root::19000:0:99999:7:::\ndaemon:*:19000::::::\nbin:!:1::::::\nlocked:!!:1::::::\n\
                       hashed:$6$salt$hash:1::::::\nx:!$6$salt$hash:1::::::\nweird\n";
    assert_eq!(one(shadow, "etc/shadow", shadow_text), [t("CFG-015", "Account root has an empty password")]);
    assert_eq!(uid_of(passwd_text.as_bytes(), "toor"), Some(0));
    assert_eq!(uid_of(passwd_text.as_bytes(), "app"), Some(1000));
    assert_eq!(uid_of(passwd_text.as_bytes(), "nobody"), None);
    // Binary content is a file error that quotes nothing.
    let mut out = Vec::new();
    shadow(&ImageFile { path: "etc/shadow", content: b"root:$6$secret\0hash" }, &mut out);
    let (_, errors) = split(&out);
    assert_eq!(errors, ["etc/shadow: /etc/shadow holds binary data (a NUL byte); not checked"]);
}

fn sshd_run(list: &[(&str, &str)]) -> (Vec<(String, String, String)>, Vec<String>) {
    let files: Vec<ImageFile<'_>> = list.iter().map(|(p, c)| f(p, c)).collect();
    let mut out = Vec::new();
    sshd(&files, &mut out);
    split(&out)
}

#[test]
fn sshd_first_value_wins_and_includes() {
    let (issues, errors) = sshd_run(&[(
        "etc/ssh/sshd_config",
        "# PermitRootLogin yes\npermitrootlogin YES # trailing comment\nPermitRootLogin no\n\
         PasswordAuthentication=yes\nPermitEmptyPasswords\t\"yes\"\n",
    )]);
    assert!(errors.is_empty());
    let got: Vec<(&str, &str)> = issues.iter().map(|(i, p, _)| (i.as_str(), p.as_str())).collect();
    assert_eq!(
        got,
        [("CFG-017", "etc/ssh/sshd_config"), ("CFG-018", "etc/ssh/sshd_config"), ("CFG-019", "etc/ssh/sshd_config")]
    );

    // Debian's layout: the Include comes first, so a drop-in overrides the main file; files are read
    // in lexical order; a drop-in that is not included is not read.
    let main = "Include /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin yes\nPasswordAuthentication yes\n";
    let (issues, _) = sshd_run(&[
        ("etc/ssh/sshd_config", main),
        ("etc/ssh/sshd_config.d/10-a.conf", "PasswordAuthentication yes\n"),
        ("etc/ssh/sshd_config.d/00-hard.conf", "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"),
        ("etc/ssh/sshd_config.d/ignored.txt", "PermitEmptyPasswords yes\n"),
    ]);
    assert!(issues.is_empty(), "{issues:?}");
    let (issues, _) = sshd_run(&[
        ("etc/ssh/sshd_config", "Include sshd_config.d/*.conf\nPermitRootLogin no\n"),
        ("etc/ssh/sshd_config.d/50-cloud.conf", "PasswordAuthentication yes\n"),
    ]);
    let got: Vec<(&str, &str)> = issues.iter().map(|(i, p, _)| (i.as_str(), p.as_str())).collect();
    assert_eq!(got, [("CFG-018", "etc/ssh/sshd_config.d/50-cloud.conf")]);

    // Match blocks are conditional; defaults (no setting) are not reported.
    let (issues, _) = sshd_run(&[(
        "etc/ssh/sshd_config",
        "#PasswordAuthentication yes\nMatch Address 10.0.0.0/8\n  PermitRootLogin yes\n",
    )]);
    assert!(issues.is_empty(), "{issues:?}");
    // A drop-in without the main file is not read by sshd.
    assert!(sshd_run(&[("etc/ssh/sshd_config.d/a.conf", "PermitRootLogin yes\n")]).0.is_empty());
    // Include loops stop at the depth limit; a binary drop-in is one file error.
    let (issues, errors) = sshd_run(&[
        ("etc/ssh/sshd_config", "Include sshd_config\nInclude sshd_config.d/*\nPermitRootLogin yes\n"),
        ("etc/ssh/sshd_config.d/bin", "\0"),
    ]);
    assert_eq!(issues.len(), 1);
    assert_eq!(
        errors,
        ["etc/ssh/sshd_config.d/bin: the sshd configuration holds binary data (a NUL byte); not checked"]
    );
}

#[test]
fn glob_match_stays_in_one_component() {
    assert!(glob_match("etc/ssh/sshd_config.d/*.conf", "etc/ssh/sshd_config.d/a.conf"));
    assert!(glob_match("etc/ssh/sshd_config.d/*", "etc/ssh/sshd_config.d/a"));
    assert!(glob_match("etc/ssh/x?", "etc/ssh/xy"));
    assert!(!glob_match("etc/ssh/*.conf", "etc/ssh/sshd_config.d/a.conf"));
    assert!(!glob_match("etc/ssh/*.conf", "etc/ssh/a.confx"));
    assert!(!glob_match("etc/ssh/x?", "etc/ssh/x"));
}

#[test]
fn sudoers_rules() {
    let main = "Defaults env_reset\nroot ALL=(ALL:ALL) ALL\n%sudo ALL=(ALL:ALL) ALL\n\
                # app ALL=(ALL) NOPASSWD: ALL\n@includedir /etc/sudoers.d\n";
    assert!(one(sudoers, "etc/sudoers", main).is_empty());
    let drop_in = "app ALL=(ALL) NOPASSWD:ALL\n%wheel ALL=(ALL) \\\n    NOPASSWD: /usr/bin/apt\n\
                   Defaults:ci !authenticate\nops ALL=(ALL) PASSWD: ALL # NOPASSWD elsewhere\n";
    assert_eq!(
        one(sudoers, "etc/sudoers.d/app", drop_in),
        [
            t("CFG-020", "sudo without a password for app"),
            t("CFG-020", "sudo without a password for %wheel"),
            t("CFG-020", "sudo without a password for Defaults:ci"),
        ]
    );
    let mut out = Vec::new();
    sudoers(&f("etc/sudoers.d/app", drop_in), &mut out);
    assert!(all_text(&out).contains("line 2 has a NOPASSWD rule"));
    // sudo skips these names in sudoers.d.
    assert!(one(sudoers, "etc/sudoers.d/README.md", drop_in).is_empty());
    assert!(one(sudoers, "etc/sudoers.d/app~", drop_in).is_empty());
}

#[test]
fn caches_one_finding_per_directory() {
    let paths = [
        "etc/passwd",
        "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease",
        "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm-updates_InRelease",
        "var/cache/apk/APKINDEX.5022a8a2.tar.gz",
        "var/cache/dnf/fedora-abc/repodata/repomd.xml",
        "var/cache/yum/x86_64/7/base/repomd.xml",
        "root/.npm/_cacache/index-v5/0a/1b/2c3d",
        "root/.npm/_cacache/index-v5/ff/00/1122",
        "home/node/.npm/_cacache/index-v5/00/00/aa",
        ".npm/_cacache/index-v5/00/00/bb",
    ];
    let mut out = Vec::new();
    caches(&paths, &mut out);
    let (issues, _) = split(&out);
    let got: Vec<(&str, &str)> = issues.iter().map(|(_, p, t)| (p.as_str(), t.as_str())).collect();
    assert_eq!(
        got,
        [
            (".npm/_cacache/index-v5/00/00/bb", "npm package cache left in /.npm"),
            ("home/node/.npm/_cacache/index-v5/00/00/aa", "npm package cache left in /home/node/.npm"),
            ("root/.npm/_cacache/index-v5/0a/1b/2c3d", "npm package cache left in /root/.npm"),
            ("var/cache/apk/APKINDEX.5022a8a2.tar.gz", "apk package cache left in /var/cache/apk"),
            ("var/cache/dnf/fedora-abc/repodata/repomd.xml", "dnf package cache left in /var/cache/dnf"),
            ("var/cache/yum/x86_64/7/base/repomd.xml", "yum package cache left in /var/cache/yum"),
            (
                "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm-updates_InRelease",
                "apt package cache left in /var/lib/apt/lists"
            ),
        ]
    );
    assert!(all_text(&out).contains("holds 2 apt index file(s)"));
}

#[test]
fn oversized_text_is_a_file_error() {
    let big = "#".repeat(MAX_TEXT_BYTES + 1);
    let mut out = Vec::new();
    passwd(&f("etc/passwd", &big), &mut out);
    let (issues, errors) = split(&out);
    assert!(issues.is_empty());
    assert_eq!(errors.len(), 1);
    assert!(errors[0].contains("more than the 4194304 bytes read"), "{errors:?}");
}
