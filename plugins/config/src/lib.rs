//! ecr-engine analyzer for configuration issues: how the image was built (its config and build
//! history) and risky files left in it. Every check has a stable id (`CFG-001`...), documented in
//! `docs/checks.md` and listed in [`checks`].
//!
//! - [`image_config`]: root user, secrets in Env / labels / history, credential-like variables
//!   and build args, `ADD` of a URL, `curl | sh`, no HEALTHCHECK, port 22.
//! - [`files`]: private keys, AWS / npm / Docker credential files, empty passwords and extra
//!   uid-0 accounts, sshd and sudo settings, package-manager caches.
//! - [`secrets`]: token formats and redaction; no finding ever holds a secret value.
//!
//! File selection: the host hands over the content of every file a pattern selects, so the
//! patterns pick small files. Caches are detected by their index files only: apt by the
//! `*_InRelease` / `*_Release` files in `var/lib/apt/lists` (not the large `*_Packages`), apk by
//! `var/cache/apk/APKINDEX.*`, yum/dnf by `repomd.xml`, npm by the entries of
//! `.npm/_cacache/index-v5` (a few hundred bytes each; the package tarballs in `content-v2` are
//! not selected). Private keys are looked for where keys are kept (`.ssh/id_*`, `id_rsa`...,
//! `*.pem`, `*.key`, `etc/ssl/private/*`, SSH host keys); public keys and certificates in those
//! places are recognized by content and ignored.

pub mod checks;
pub mod files;
pub mod image_config;
pub mod secrets;

use ecr_plugin_kit::{Analyzer, File, FileError, Finding, Findings, ImageInfo, relative_path};
use files::ImageFile;

/// The host patterns (globs relative to the image root); see the crate docs for the choice.
pub const PATTERNS: &[&str] = &[
    // Private keys.
    "**/.ssh/id_*",
    "**/id_rsa",
    "**/id_dsa",
    "**/id_ecdsa",
    "**/id_ed25519",
    "**/*.pem",
    "**/*.key",
    "etc/ssl/private/*",
    "etc/ssh/ssh_host_*_key",
    // Credential files.
    "**/.aws/credentials",
    "**/.aws/config",
    "**/.npmrc",
    "**/etc/npmrc",
    "**/.docker/config.json",
    "**/.dockercfg",
    // Accounts, sshd, sudo.
    "etc/passwd",
    "etc/shadow",
    "etc/ssh/sshd_config",
    "etc/ssh/sshd_config.d/*",
    "etc/sudoers",
    "etc/sudoers.d/*",
    // Package-manager caches (index files only).
    "var/lib/apt/lists/*_InRelease",
    "var/lib/apt/lists/*_Release",
    "var/cache/apk/APKINDEX.*",
    "var/cache/yum/**/repomd.xml",
    "var/cache/dnf/**/repomd.xml",
    "var/cache/libdnf5/**/repomd.xml",
    "**/.npm/_cacache/index-v5/*/*/*",
];

/// All findings for one image: config and history first, then files by path, then sshd and the
/// caches. Never fails: a config or file that cannot be read is a `file-error` finding.
pub fn analyze(config_json: &str, files: &[File]) -> Vec<Finding> {
    let mut selected: Vec<ImageFile<'_>> = files
        .iter()
        .filter(|f| f.is_regular())
        .map(|f| ImageFile { path: relative_path(&f.path), content: &f.content })
        .collect();
    selected.sort_by(|a, b| a.path.cmp(b.path));
    let mut out = Vec::new();
    match image_config::parse(config_json) {
        Ok(config) => {
            let passwd = selected.iter().find(|f| f.path == "etc/passwd").map(|f| f.content);
            let uid_of = |user: &str| passwd.and_then(|p| files::uid_of(p, user));
            out.extend(image_config::check(&config, &uid_of));
        }
        Err(message) => out.push(Finding::FileError(FileError { path: "(image config)".to_string(), message })),
    }
    for f in &selected {
        let name = f.path.rsplit('/').next().unwrap_or(f.path);
        let dir = f.path.rsplit_once('/').map_or("", |(d, _)| d);
        let dir_name = dir.rsplit('/').next().unwrap_or(dir);
        if files::is_key_candidate(f.path) {
            files::private_key(f, &mut out);
        }
        match (dir_name, name) {
            (".aws", "credentials" | "config") => files::aws_credentials(f, &mut out),
            (_, ".npmrc") | ("etc", "npmrc") => files::npmrc(f, &mut out),
            (".docker", "config.json") | (_, ".dockercfg") => files::docker_config(f, &mut out),
            _ => {}
        }
        match f.path {
            "etc/passwd" => files::passwd(f, &mut out),
            "etc/shadow" => files::shadow(f, &mut out),
            "etc/sudoers" => files::sudoers(f, &mut out),
            _ if dir == "etc/sudoers.d" => files::sudoers(f, &mut out),
            _ => {}
        }
    }
    files::sshd(&selected, &mut out);
    let paths: Vec<&str> = selected.iter().map(|f| f.path).collect();
    files::caches(&paths, &mut out);
    out
}

pub struct Config;

impl Analyzer for Config {
    const NAME: &'static str = "config";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Configuration issues: root user, secrets in the config and history, risky \
                                       build steps, credential and key files, accounts, sshd and sudo settings, \
                                       package caches";

    fn patterns() -> Vec<String> {
        PATTERNS.iter().map(|p| p.to_string()).collect()
    }

    fn analyze(image: &ImageInfo, files: &[File]) -> Result<Findings, String> {
        let mut findings = Findings::new();
        findings.extend(analyze(&image.config_json, files));
        Ok(findings)
    }
}

ecr_plugin_kit::export!(Config);

#[cfg(test)]
mod tests;
