//! Checks on files of the image: private keys, credential files, account databases, sshd and
//! sudo configuration, and package-manager caches.
//!
//! Every file is untrusted: text is read lossily from at most [`MAX_TEXT_BYTES`], nothing here
//! panics, and file errors never quote file content (these files hold password hashes and
//! tokens).

use crate::checks::{self, Origin};
use crate::secrets;
use ecr_plugin_kit::{FileError, Finding};
use serde_json::Value;
use std::collections::BTreeMap;

/// Configuration and account files are read up to this size; a bigger one is a file error.
pub const MAX_TEXT_BYTES: usize = 4 << 20;
/// Key files are searched for a private-key header in their first this many bytes only.
pub const MAX_KEY_SCAN_BYTES: usize = 1 << 20;
/// sshd `Include` nesting stops here (sshd's own limit is 16).
const MAX_INCLUDE_DEPTH: usize = 16;
/// Names quoted in findings are cut to this many characters.
const SHOWN: usize = 80;

/// One selected file of the image (path relative to the root, no leading `/`).
pub struct ImageFile<'a> {
    pub path: &'a str,
    pub content: &'a [u8],
}

fn base(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(p, _)| p)
}

/// Whether the path is one the private-key patterns select (see `lib.rs`).
pub fn is_key_candidate(path: &str) -> bool {
    let name = base(path);
    let dir = parent(path);
    (name.starts_with("id_") && base(dir) == ".ssh")
        || matches!(name, "id_rsa" | "id_dsa" | "id_ecdsa" | "id_ed25519")
        || name.ends_with(".pem")
        || name.ends_with(".key")
        || dir == "etc/ssl/private"
        || (dir == "etc/ssh" && name.starts_with("ssh_host_") && name.ends_with("_key"))
}

/// Text of a configuration file, or why it cannot be read.
fn text<'a>(f: &ImageFile<'a>, what: &str) -> Result<std::borrow::Cow<'a, str>, String> {
    if f.content.len() > MAX_TEXT_BYTES {
        return Err(format!(
            "{what} is {} bytes, more than the {MAX_TEXT_BYTES} bytes read; not checked",
            f.content.len()
        ));
    }
    if f.content.contains(&0) {
        return Err(format!("{what} holds binary data (a NUL byte); not checked"));
    }
    Ok(String::from_utf8_lossy(f.content))
}

/// [`text`], with the problem pushed as a file error.
fn read<'a>(f: &ImageFile<'a>, what: &str, out: &mut Vec<Finding>) -> Option<std::borrow::Cow<'a, str>> {
    text(f, what).map_err(|message| out.push(Finding::FileError(FileError { path: f.path.to_string(), message }))).ok()
}

pub fn private_key(f: &ImageFile<'_>, out: &mut Vec<Finding>) {
    let b = f.content.get(..MAX_KEY_SCAN_BYTES).unwrap_or(f.content);
    let Some(encrypted) = (0..b.len()).find_map(|i| secrets::private_key_header(b, i).map(|(_, e)| e)) else {
        return;
    };
    // Traditional PEM keys say so in a header line instead of the label.
    const PROC_TYPE: &[u8] = b"Proc-Type: 4,ENCRYPTED";
    let encrypted = encrypted || b.windows(PROC_TYPE.len()).any(|w| w == PROC_TYPE);
    let host_key = parent(f.path) == "etc/ssh" && base(f.path).starts_with("ssh_host_");
    let title = if host_key { "SSH host private key in the image" } else { "Private key in the image" };
    let what =
        if encrypted { "an encrypted private key (protected by a passphrase)" } else { "an unencrypted private key" };
    let why = if host_key {
        "Every container started from the image shares this host key, so one leaked image lets anyone \
         impersonate all of them."
    } else {
        "Anyone who can pull the image can copy it from the layer, even if a later layer deletes it."
    };
    out.push(checks::PRIVATE_KEY_FILE.finding(
        Origin::File(f.path),
        title.to_string(),
        format!("/{} holds {what}. {why}", f.path),
    ));
}

/// `.aws/credentials` or `.aws/config`: INI profiles; a non-empty `aws_secret_access_key` is a
/// finding per profile.
pub fn aws_credentials(f: &ImageFile<'_>, out: &mut Vec<Finding>) {
    let Some(t) = read(f, "the AWS credentials file", out) else { return };
    let mut profile = "default".to_string();
    for (n, line) in t.lines().enumerate() {
        let line = line.trim();
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            profile = section.trim().trim_start_matches("profile ").trim().to_string();
            continue;
        }
        let Some((key, value)) = line.split_once('=') else { continue };
        if key.trim().eq_ignore_ascii_case("aws_secret_access_key") && !value.trim().is_empty() {
            let profile = secrets::redact(&profile, SHOWN);
            out.push(checks::AWS_CREDENTIALS_FILE.finding(
                Origin::File(f.path),
                format!("AWS secret access key for profile {profile}"),
                format!(
                    "/{} line {} sets aws_secret_access_key for profile [{profile}] (value hidden). Anyone who \
                     can pull the image can use these AWS credentials.",
                    f.path,
                    n + 1
                ),
            ));
        }
    }
}

/// `.npmrc` / `npmrc`: `_authToken`, `_auth` and `_password`, global or scoped to a registry
/// (`//registry.npmjs.org/:_authToken=...`). Values that are only an environment reference
/// (`${NPM_TOKEN}`) are filled in by npm at run time and hold no secret.
pub fn npmrc(f: &ImageFile<'_>, out: &mut Vec<Finding>) {
    let Some(t) = read(f, "the npm config file", out) else { return };
    for (n, line) in t.lines().enumerate() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else { continue };
        let (key, value) = (key.trim(), value.trim().trim_matches(['"', '\'']));
        let (scope, setting) = key.rsplit_once(':').unwrap_or(("", key));
        if !matches!(setting, "_authToken" | "_auth" | "_password") || value.is_empty() {
            continue;
        }
        if value.starts_with("${") && value.ends_with('}') && !value[2..].contains("${") {
            continue;
        }
        let registry =
            if scope.is_empty() { "the default registry".to_string() } else { secrets::redact(scope, SHOWN) };
        let shown = secrets::find(value).first().map_or_else(|| "…".to_string(), |s| s.shown.clone());
        out.push(checks::NPM_TOKEN_FILE.finding(
            Origin::File(f.path),
            format!("npm credential ({setting}) for {registry}"),
            format!(
                "/{} line {} sets {setting} for {registry} ({shown}). Anyone who can pull the image can use it \
                 to read private packages or publish as its owner.",
                f.path,
                n + 1
            ),
        ));
    }
}

/// `.docker/config.json` (`auths.REGISTRY.auth|identitytoken|password`) or the legacy
/// `.dockercfg` (`REGISTRY.auth`). Credential helpers (`credsStore`, `credHelpers`) keep
/// secrets out of the file and are fine.
pub fn docker_config(f: &ImageFile<'_>, out: &mut Vec<Finding>) {
    let Some(t) = read(f, "the Docker client config", out) else { return };
    let doc: Value = match serde_json::from_str(&t) {
        Ok(v) => v,
        Err(e) => {
            // serde_json's message names a position, never the content.
            return out.push(Finding::FileError(FileError {
                path: f.path.to_string(),
                message: format!("not valid JSON ({e}); not checked"),
            }));
        }
    };
    let legacy = base(f.path) == ".dockercfg";
    let auths = if legacy { doc.as_object() } else { doc.get("auths").and_then(Value::as_object) };
    for (registry, entry) in auths.into_iter().flatten() {
        let held: Vec<&str> = ["auth", "identitytoken", "password"]
            .into_iter()
            .filter(|k| entry.get(*k).and_then(Value::as_str).is_some_and(|v| !v.trim().is_empty()))
            .collect();
        if held.is_empty() {
            continue;
        }
        let registry = secrets::redact(registry, SHOWN);
        out.push(checks::DOCKER_AUTH_FILE.finding(
            Origin::File(f.path),
            format!("Registry credentials for {registry}"),
            format!(
                "/{} stores {} for registry {registry} (hidden). `auth` is only base64 of user:password, so \
                 anyone who can pull the image can log in to the registry with them.",
                f.path,
                held.join(", ")
            ),
        ));
    }
}

/// `/etc/passwd`: uid-0 accounts other than root, and accounts with an empty password field
/// (with an empty field, login does not consult /etc/shadow: no password is needed).
pub fn passwd(f: &ImageFile<'_>, out: &mut Vec<Finding>) {
    let Some(t) = read(f, "/etc/passwd", out) else { return };
    for (n, fields) in account_lines(&t) {
        let name = secrets::redact(fields[0], SHOWN);
        if fields[1].is_empty() {
            empty_password(f.path, n, &name, out);
        }
        if fields.get(2).is_some_and(|uid| uid.trim().parse::<u32>() == Ok(0)) && fields[0] != "root" {
            out.push(checks::EXTRA_UID0.finding(
                Origin::File(f.path),
                format!("Account {name} has uid 0"),
                format!(
                    "/{} line {n} gives account {name} uid 0: it is root under another name, which hides who \
                     can act as root and is a classic backdoor.",
                    f.path
                ),
            ));
        }
    }
}

/// `/etc/shadow`: accounts whose password field is empty. `*`, `!`, `!!`, `!hash` (locked) and any
/// hash are not empty.
pub fn shadow(f: &ImageFile<'_>, out: &mut Vec<Finding>) {
    let Some(t) = read(f, "/etc/shadow", out) else { return };
    for (n, fields) in account_lines(&t) {
        if fields[1].is_empty() {
            empty_password(f.path, n, &secrets::redact(fields[0], SHOWN), out);
        }
    }
}

/// `(1-based line, fields)` of the `name:password:...` lines with a name and a password field;
/// comments, blank lines and NIS `+`/`-` entries are skipped.
fn account_lines(t: &str) -> Vec<(usize, Vec<&str>)> {
    t.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#') && !l.starts_with('+') && !l.starts_with('-'))
        .map(|(n, l)| (n, l.split(':').collect::<Vec<_>>()))
        .filter(|(_, f)| f.len() >= 2 && !f[0].is_empty())
        .collect()
}

fn empty_password(path: &str, line: usize, name: &str, out: &mut Vec<Finding>) {
    out.push(checks::EMPTY_PASSWORD.finding(
        Origin::File(path),
        format!("Account {name} has an empty password"),
        format!(
            "/{path} line {line}: the password field of {name} is empty, so anyone with a login path into the \
             container (su, a console, SSH with PermitEmptyPasswords) becomes {name} without a password."
        ),
    ));
}

/// The uid of `user` in `/etc/passwd` content.
pub fn uid_of(passwd: &[u8], user: &str) -> Option<u32> {
    let t = String::from_utf8_lossy(passwd.get(..MAX_TEXT_BYTES).unwrap_or(passwd));
    account_lines(&t).iter().find(|(_, f)| f[0] == user).and_then(|(_, f)| f.get(2)?.trim().parse().ok())
}

/// `line` up to a `#` that starts a word (the comment syntax of sshd_config and sudoers).
fn strip_comment(line: &str) -> &str {
    let b = line.as_bytes();
    let at = (0..b.len()).find(|&i| b[i] == b'#' && (i == 0 || b[i - 1].is_ascii_whitespace()));
    at.map_or(line, |i| &line[..i])
}

/// `*` and `?` within one path component (what sshd's `Include` globs use in practice).
fn glob_match(pattern: &str, path: &str) -> bool {
    let (p, s) = (pattern.as_bytes(), path.as_bytes());
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, si));
                pi += 1;
            }
            Some(&c) if (c == b'?' && s[si] != b'/') || c == s[si] => {
                pi += 1;
                si += 1;
            }
            _ => match star {
                Some((sp, ss)) if s[ss] != b'/' => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                _ => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// The sshd settings this plugin checks: lower-cased keyword -> (value, file, line) of the first
/// occurrence, since sshd keeps the first value it reads.
type SshdSettings<'a> = BTreeMap<String, (String, &'a str, usize)>;

const SSHD_KEYWORDS: &[&str] = &["permitrootlogin", "passwordauthentication", "permitemptypasswords"];

/// Reads `etc/ssh/sshd_config` as sshd does: keywords are case-insensitive and separated from
/// their argument by spaces or `=`; `#` starts a comment; `Include` pulls in the matching files
/// (relative paths are under /etc/ssh) at that point, in lexical order; the first value of a
/// keyword wins. Lines after a `Match` apply only to some connections and are not read (up to the
/// end of that file).
pub fn sshd<'a>(files: &[ImageFile<'a>], out: &mut Vec<Finding>) {
    let Some(main) = files.iter().find(|f| f.path == "etc/ssh/sshd_config") else { return };
    let mut settings = SshdSettings::new();
    let mut seen_errors = Vec::new();
    sshd_file(main, files, 0, &mut settings, &mut seen_errors, out);
    for (keyword, check, title, why) in [
        (
            "permitrootlogin",
            &checks::SSHD_ROOT_LOGIN,
            "sshd allows root login with a password",
            "`PermitRootLogin yes` lets root log in over SSH with any method, including a password that can be \
             guessed.",
        ),
        (
            "passwordauthentication",
            &checks::SSHD_PASSWORD_AUTH,
            "sshd allows password authentication",
            "`PasswordAuthentication yes` exposes every account with a password to online guessing.",
        ),
        (
            "permitemptypasswords",
            &checks::SSHD_EMPTY_PASSWORDS,
            "sshd allows empty passwords",
            "`PermitEmptyPasswords yes` lets accounts with an empty password log in over SSH with no \
             credential at all.",
        ),
    ] {
        if let Some((value, path, line)) = settings.get(keyword)
            && value.eq_ignore_ascii_case("yes")
        {
            out.push(check.finding(Origin::File(path), title.to_string(), format!("/{path} line {line}: {why}")));
        }
    }
}

fn sshd_file<'a>(
    f: &ImageFile<'a>,
    files: &[ImageFile<'a>],
    depth: usize,
    settings: &mut SshdSettings<'a>,
    errors: &mut Vec<&'a str>,
    out: &mut Vec<Finding>,
) {
    let t = match text(f, "the sshd configuration") {
        Ok(t) => t,
        Err(message) => {
            // A file included twice is reported once.
            if !errors.contains(&f.path) {
                errors.push(f.path);
                out.push(Finding::FileError(FileError { path: f.path.to_string(), message }));
            }
            return;
        }
    };
    for (n, line) in t.lines().enumerate() {
        let line = strip_comment(line).trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let split = line.find(|c: char| c.is_whitespace() || c == '=').unwrap_or(line.len());
        let (keyword, rest) = line.split_at(split);
        let args = rest.trim_start().strip_prefix('=').unwrap_or(rest).trim();
        let keyword = keyword.to_ascii_lowercase();
        match keyword.as_str() {
            "match" => return,
            "include" if depth < MAX_INCLUDE_DEPTH => {
                for pattern in args.split_whitespace().map(|a| a.trim_matches('"')) {
                    let pattern = match pattern.strip_prefix('/') {
                        Some(abs) => abs.to_string(),
                        None => format!("etc/ssh/{pattern}"),
                    };
                    let mut matched: Vec<&ImageFile<'a>> =
                        files.iter().filter(|g| glob_match(&pattern, g.path)).collect();
                    matched.sort_by(|a, b| a.path.cmp(b.path));
                    for g in matched {
                        sshd_file(g, files, depth + 1, settings, errors, out);
                    }
                }
            }
            k if SSHD_KEYWORDS.contains(&k) => {
                let value = args.split_whitespace().next().unwrap_or_default().trim_matches('"').to_string();
                settings.entry(keyword).or_insert((value, f.path, n + 1));
            }
            _ => {}
        }
    }
}

/// `/etc/sudoers` and `/etc/sudoers.d/*` (files sudo reads from that directory: no `.` in the
/// name and no trailing `~`): rules with the NOPASSWD tag and `Defaults` that turn off
/// authentication, one finding per line.
pub fn sudoers(f: &ImageFile<'_>, out: &mut Vec<Finding>) {
    let name = base(f.path);
    if parent(f.path) == "etc/sudoers.d" && (name.contains('.') || name.ends_with('~')) {
        return;
    }
    let Some(t) = read(f, "the sudoers file", out) else { return };
    let mut start = 0;
    let mut logical = String::new();
    for (n, raw) in t.lines().enumerate() {
        if logical.is_empty() {
            start = n + 1;
        }
        let raw = raw.trim_end_matches('\r');
        if let Some(cont) = raw.strip_suffix('\\') {
            logical.push_str(cont);
            logical.push(' ');
            continue;
        }
        logical.push_str(raw);
        let line = std::mem::take(&mut logical);
        let line = line.trim();
        // Comments, and `#include` / `@include` directives, which hold no rule.
        if line.starts_with('#') || line.starts_with('@') {
            continue;
        }
        let line = strip_comment(line);
        let who = secrets::redact(line.split_whitespace().next().unwrap_or_default(), SHOWN);
        let nopasswd = line.split([' ', '\t', ',', '=', '(', ')']).any(|w| w.split(':').any(|t| t == "NOPASSWD"));
        let no_auth = who == "Defaults" || who.starts_with("Defaults:") || who.starts_with("Defaults>");
        let no_auth = no_auth && line.split([' ', '\t', ',']).any(|w| w == "!authenticate");
        if nopasswd || no_auth {
            let what = if nopasswd { "a NOPASSWD rule" } else { "`!authenticate`" };
            out.push(checks::SUDO_NOPASSWD.finding(
                Origin::File(f.path),
                format!("sudo without a password for {who}"),
                format!(
                    "/{} line {start} has {what} for {who}: that user can run commands as root without \
                     knowing any password, so running the container as that user protects nothing.",
                    f.path
                ),
            ));
        }
    }
}

/// A package-manager cache: which manager, the directory it lives in, and how to avoid it.
pub struct Cache {
    pub manager: &'static str,
    pub dir: String,
    pub fix: &'static str,
}

/// The cache a selected path belongs to.
pub fn cache_of(path: &str) -> Option<Cache> {
    let fixed = |manager, dir: &str, fix| Some(Cache { manager, dir: dir.to_string(), fix });
    if path.starts_with("var/lib/apt/lists/") {
        return fixed("apt", "var/lib/apt/lists", "end the RUN step with `&& rm -rf /var/lib/apt/lists/*`");
    }
    if path.starts_with("var/cache/apk/") {
        return fixed("apk", "var/cache/apk", "use `apk add --no-cache` (or `rm -rf /var/cache/apk/*`)");
    }
    if path.starts_with("var/cache/yum/") {
        return fixed("yum", "var/cache/yum", "end the RUN step with `&& yum clean all && rm -rf /var/cache/yum`");
    }
    for dir in ["var/cache/dnf", "var/cache/libdnf5"] {
        if path.strip_prefix(dir).is_some_and(|r| r.starts_with('/')) {
            return fixed("dnf", dir, "end the RUN step with `&& dnf clean all`");
        }
    }
    let at = if path.starts_with(".npm/_cacache/") { Some(0) } else { path.find("/.npm/_cacache/").map(|i| i + 1) };
    at.map(|i| Cache {
        manager: "npm",
        dir: path[..i + 4].to_string(),
        fix: "use `npm ci --cache /tmp/npm-cache` and remove it, or `npm cache clean --force`, in the same RUN step",
    })
}

/// One finding per cache directory, naming its first file (by path) so the host can tell which
/// layer left it.
pub fn caches(paths: &[&str], out: &mut Vec<Finding>) {
    let mut groups: BTreeMap<String, (Cache, Vec<&str>)> = BTreeMap::new();
    for path in paths {
        if let Some(cache) = cache_of(path) {
            groups.entry(cache.dir.clone()).or_insert_with(|| (cache, Vec::new())).1.push(path);
        }
    }
    for (dir, (cache, mut paths)) in groups {
        paths.sort_unstable();
        let Some(first) = paths.first() else { continue };
        out.push(checks::PACKAGE_CACHE.finding(
            Origin::File(first),
            format!("{} package cache left in /{}", cache.manager, secrets::redact(&dir, SHOWN)),
            format!(
                "/{} holds {} {} index file(s) (e.g. /{}): downloaded metadata that only makes the image bigger \
                 and goes stale. To avoid it, {}.",
                secrets::redact(&dir, SHOWN),
                paths.len(),
                cache.manager,
                secrets::redact(first, SHOWN),
                cache.fix
            ),
        ));
    }
}

#[cfg(test)]
mod tests;
