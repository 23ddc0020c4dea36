//! Operating-system identity of an image, for every OS package analyzer (dpkg, apk, rpm).
//!
//! [`detect`] looks at the files the host handed over (include [`OS_RELEASE_PATTERNS`] in the
//! plugin's patterns) in this order and returns the first answer:
//!
//! 1. `etc/os-release`, then `usr/lib/os-release` (the spec's fallback; the host resolves the
//!    usual `etc/os-release -> ../usr/lib/os-release` symlink, but images without the link exist);
//! 2. `etc/lsb-release` (old Ubuntu; checked before `debian_version`, which Ubuntu also ships with
//!    a Debian codename in it);
//! 3. `etc/alpine-release`;
//! 4. `etc/redhat-release`, `etc/centos-release`, `etc/system-release` (Amazon Linux; elsewhere a
//!    link to redhat-release), all "NAME release VERSION (CODENAME)";
//! 5. `etc/debian_version`.
//!
//! When an os-release has an `ID` but no `VERSION_ID` (Debian testing/sid, rolling distros), a
//! fallback file of the same family may supply the version (e.g. Alpine's `alpine-release`);
//! otherwise `version_id` stays "" rather than guessing.
//!
//! `debian_version` decision: a numeric content such as `12.4` or `6.0.10` gives the major version
//! (`12`, `6`), which is what Debian's os-release `VERSION_ID` holds and what Debian security data
//! is keyed by; a codename such as `trixie/sid` (testing/unstable) gives `version_id` "" (Debian's
//! own os-release has no `VERSION_ID` there either) and the codename goes into `pretty_name`.
//!
//! `redhat-release` decision: `version_id` is the version exactly as the file writes it
//! (`7.9.2009` for CentOS 7, `8.9` for RHEL 8); these files are only read when os-release is
//! missing (CentOS/RHEL 6 and older), and matchers compare on the major version anyway.
//!
//! Every input is untrusted: at most [`MAX_RELEASE_FILE`] bytes of a file are read, invalid UTF-8
//! is replaced, and nothing here panics.

use crate::{Distro, File, relative_path};

/// The files [`detect`] reads, as host patterns (relative to the image root).
pub const OS_RELEASE_PATTERNS: &[&str] = &[
    "etc/os-release",
    "usr/lib/os-release",
    "etc/lsb-release",
    "etc/alpine-release",
    "etc/redhat-release",
    "etc/centos-release",
    "etc/system-release",
    "etc/debian_version",
];

/// Release files are a few hundred bytes; anything past this is ignored.
pub const MAX_RELEASE_FILE: usize = 64 * 1024;

fn text(content: &[u8]) -> String {
    let end = content.len().min(MAX_RELEASE_FILE);
    String::from_utf8_lossy(content.get(..end).unwrap_or_default()).into_owned()
}

/// Detects the OS from the files the host provided. Paths are matched exactly (a leading `/` or
/// `./` is tolerated); other files are ignored.
pub fn detect(files: &[File]) -> Option<Distro> {
    let pairs: Vec<(&str, &[u8])> = files.iter().map(|f| (f.path.as_str(), f.content.as_slice())).collect();
    detect_from(&pairs)
}

/// [`detect`] over `(path, content)` pairs.
pub fn detect_from(files: &[(&str, &[u8])]) -> Option<Distro> {
    let find = |want: &str| -> Option<(&str, &[u8])> {
        files.iter().find(|(p, _)| relative_path(p) == want).map(|(p, c)| (relative_path(p), *c))
    };

    let fallbacks = || -> Option<Distro> {
        if let Some(d) = find("etc/lsb-release").and_then(|(p, c)| lsb_release(p, c)) {
            return Some(d);
        }
        if let Some(d) = find("etc/alpine-release").and_then(|(p, c)| alpine_release(p, c)) {
            return Some(d);
        }
        for name in ["etc/redhat-release", "etc/centos-release", "etc/system-release"] {
            if let Some(d) = find(name).and_then(|(p, c)| redhat_release(p, c)) {
                return Some(d);
            }
        }
        find("etc/debian_version").and_then(|(p, c)| debian_version(p, c))
    };

    let from_os_release =
        ["etc/os-release", "usr/lib/os-release"].iter().find_map(|name| find(name).and_then(|(p, c)| os_release(p, c)));

    match from_os_release {
        Some(mut d) => {
            if d.version_id.is_empty()
                && let Some(fb) = fallbacks()
                && fb.id == d.id
            {
                d.version_id = fb.version_id;
            }
            Some(d)
        }
        None => fallbacks(),
    }
}

/// Parses an os-release file into `(KEY, value)` pairs in file order, per os-release(5): one
/// `KEY=value` per line; blank lines and lines starting with `#` are ignored; values use shell
/// quoting: `"..."` (where `\` escapes `"`, `\`, `$` and `` ` ``), `'...'` (literal), and
/// unquoted text (where `\` escapes the next character); quoted and unquoted parts concatenate.
/// Like systemd's parser, unquoted surrounding whitespace is trimmed, an unterminated quote runs
/// to the end of the line, and lines whose key is not a valid variable name are skipped.
pub fn parse_os_release(content: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in content.lines() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, raw)) = line.split_once('=') else { continue };
        let key = key.trim();
        let valid_key = key.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid_key {
            continue;
        }
        out.push((key.to_string(), unquote_shell(raw)));
    }
    out
}

/// Shell-style unquoting of one value (see [`parse_os_release`]).
fn unquote_shell(raw: &str) -> String {
    enum St {
        Plain,
        Single,
        Double,
    }
    let mut st = St::Plain;
    let mut out = String::new();
    // Length of `out` up to the last character that was quoted or escaped, so trailing unquoted
    // whitespace can be trimmed without eating quoted whitespace.
    let mut keep = 0;
    let mut chars = raw.trim_start().chars();
    while let Some(c) = chars.next() {
        match st {
            St::Plain => match c {
                '"' => st = St::Double,
                '\'' => st = St::Single,
                '\\' => {
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                    keep = out.len();
                }
                _ => {
                    out.push(c);
                    if !c.is_whitespace() {
                        keep = out.len();
                    }
                }
            },
            St::Single => {
                if c == '\'' {
                    st = St::Plain;
                } else {
                    out.push(c);
                }
                keep = out.len();
            }
            St::Double => {
                match c {
                    '"' => st = St::Plain,
                    '\\' => match chars.next() {
                        Some(n @ ('"' | '\\' | '$' | '`')) => out.push(n),
                        Some(n) => {
                            out.push('\\');
                            out.push(n);
                        }
                        None => out.push('\\'),
                    },
                    _ => out.push(c),
                }
                keep = out.len();
            }
        }
    }
    out.truncate(keep);
    out
}

fn get<'a>(kv: &'a [(String, String)], key: &str) -> Option<&'a str> {
    // The last assignment wins, as when the file is sourced by a shell.
    kv.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn non_empty(s: Option<&str>) -> Option<String> {
    s.map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

/// Distro from an os-release file. `None` when the file has no `ID` and none of `NAME`,
/// `VERSION_ID`, `PRETTY_NAME` either (not an os-release file); with those but no `ID`, the spec's
/// default `linux` is used.
pub fn os_release(path: &str, content: &[u8]) -> Option<Distro> {
    let kv = parse_os_release(&text(content));
    let id = non_empty(get(&kv, "ID")).map(|s| s.to_ascii_lowercase());
    let version_id = non_empty(get(&kv, "VERSION_ID"));
    let pretty = non_empty(get(&kv, "PRETTY_NAME"));
    let id = match id {
        Some(id) => id,
        None if version_id.is_some() || pretty.is_some() || get(&kv, "NAME").is_some() => "linux".to_string(),
        None => return None,
    };
    Some(Distro { id, version_id: version_id.unwrap_or_default(), pretty_name: pretty, path: path.to_string() })
}

/// Distro from `etc/lsb-release` (`DISTRIB_ID=Ubuntu`, `DISTRIB_RELEASE=22.04`, same quoting as
/// os-release). The id is lower-cased, which gives the os-release ID for Ubuntu and Debian.
pub fn lsb_release(path: &str, content: &[u8]) -> Option<Distro> {
    let kv = parse_os_release(&text(content));
    let id = non_empty(get(&kv, "DISTRIB_ID"))?.to_ascii_lowercase().replace(' ', "");
    let version_id = non_empty(get(&kv, "DISTRIB_RELEASE"))?;
    Some(Distro { id, version_id, pretty_name: non_empty(get(&kv, "DISTRIB_DESCRIPTION")), path: path.to_string() })
}

fn first_line(content: &[u8]) -> String {
    text(content).lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default().to_string()
}

/// Distro from `etc/alpine-release` (a single version line such as `3.19.1` or
/// `3.20_alpha20240329`).
pub fn alpine_release(path: &str, content: &[u8]) -> Option<Distro> {
    let line = first_line(content);
    let version = line.split_whitespace().next()?;
    if !version.starts_with(|c: char| c.is_ascii_digit())
        || !version.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return None;
    }
    Some(Distro {
        id: "alpine".to_string(),
        version_id: version.to_string(),
        pretty_name: None,
        path: path.to_string(),
    })
}

/// Maps the product name of a `NAME release VERSION` line to an os-release ID.
fn redhat_family_id(name: &str) -> Option<String> {
    let n = name.to_ascii_lowercase();
    let id = if n.starts_with("red hat enterprise linux") {
        "rhel"
    } else if n.starts_with("centos") {
        "centos"
    } else if n.starts_with("rocky") {
        "rocky"
    } else if n.starts_with("almalinux") {
        "almalinux"
    } else if n.starts_with("fedora") {
        "fedora"
    } else if n.starts_with("oracle linux") {
        "ol"
    } else if n.starts_with("amazon linux") {
        "amzn"
    } else if n.starts_with("scientific linux") {
        "scientific"
    } else if n.starts_with("cbl-mariner") {
        "mariner"
    } else if n.starts_with("azure linux") {
        "azurelinux"
    } else {
        // Unknown derivative: the first word of its name, lower-cased ("EuroLinux" -> "eurolinux").
        let w = n.split_whitespace().next()?;
        if !w.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return None;
        }
        return Some(w.to_string());
    };
    Some(id.to_string())
}

/// Distro from `etc/redhat-release`, `etc/centos-release` or `etc/system-release`:
/// "CentOS Linux release 7.9.2009 (Core)", "Red Hat Enterprise Linux release 8.9 (Ootpa)",
/// "Rocky Linux release 9.3 (Blue Onyx)", "Amazon Linux release 2 (Karoo)",
/// "Amazon Linux AMI release 2018.03", "Fedora release 39 (Thirty Nine)".
pub fn redhat_release(path: &str, content: &[u8]) -> Option<Distro> {
    let line = first_line(content);
    let words: Vec<&str> = line.split_whitespace().collect();
    let pos = words.iter().position(|w| w.eq_ignore_ascii_case("release"))?;
    let name = words.get(..pos)?.join(" ");
    let version = words.get(pos + 1)?;
    if name.is_empty() || !version.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let version: String = version.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '.').collect();
    Some(Distro {
        id: redhat_family_id(&name)?,
        version_id: version,
        pretty_name: Some(line.clone()),
        path: path.to_string(),
    })
}

/// Distro from `etc/debian_version` (see the module docs for the version decision).
pub fn debian_version(path: &str, content: &[u8]) -> Option<Distro> {
    let line = first_line(content);
    let token = line.split_whitespace().next()?;
    let numeric =
        token.starts_with(|c: char| c.is_ascii_digit()) && token.chars().all(|c| c.is_ascii_digit() || c == '.');
    if numeric {
        let major = token.split('.').next().unwrap_or_default();
        Some(Distro {
            id: "debian".to_string(),
            version_id: major.to_string(),
            pretty_name: Some(format!("Debian GNU/Linux {token}")),
            path: path.to_string(),
        })
    } else if token.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '-' | '_')) {
        Some(Distro {
            id: "debian".to_string(),
            version_id: String::new(),
            pretty_name: Some(format!("Debian GNU/Linux {token}")),
            path: path.to_string(),
        })
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(files: &[(&str, &str)]) -> Option<Distro> {
        let pairs: Vec<(&str, &[u8])> = files.iter().map(|(p, c)| (*p, c.as_bytes())).collect();
        detect_from(&pairs)
    }

    fn idv(dist: Option<Distro>) -> (String, String) {
        let dist = dist.expect("distro detected");
        (dist.id, dist.version_id)
    }

    fn osr(content: &str) -> (String, String) {
        idv(d(&[("etc/os-release", content)]))
    }

    fn s(a: &str, b: &str) -> (String, String) {
        (a.to_string(), b.to_string())
    }

    #[test]
    fn quoting_rules() {
        let kv = parse_os_release(
            "# comment\n\n  \nA=plain\nB=\"double quoted\"\nC='single $quoted \\n'\n\
             D=\"esc \\\" \\\\ \\$ \\` \\n\"\nE=un\\ quoted\\\"\nF=\"a\"'b'c\nG=\"unterminated\n\
             H=  spaced   \nI=\"  kept  \"\n1BAD=x\nnot a line\nJ=\nK=x # not a comment\r\n",
        );
        let m = |k: &str| get(&kv, k).map(str::to_string);
        assert_eq!(m("A").as_deref(), Some("plain"));
        assert_eq!(m("B").as_deref(), Some("double quoted"));
        assert_eq!(m("C").as_deref(), Some("single $quoted \\n"));
        assert_eq!(m("D").as_deref(), Some("esc \" \\ $ ` \\n"));
        assert_eq!(m("E").as_deref(), Some("un quoted\""));
        assert_eq!(m("F").as_deref(), Some("abc"));
        assert_eq!(m("G").as_deref(), Some("unterminated"));
        assert_eq!(m("H").as_deref(), Some("spaced"));
        assert_eq!(m("I").as_deref(), Some("  kept  "));
        assert_eq!(m("1BAD"), None);
        assert_eq!(m("J").as_deref(), Some(""));
        assert_eq!(m("K").as_deref(), Some("x # not a comment"));
    }

    #[test]
    fn os_release_debian() {
        let dist = d(&[(
            "etc/os-release",
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n\
             VERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n",
        )])
        .unwrap();
        assert_eq!(dist.id, "debian");
        assert_eq!(dist.version_id, "12");
        assert_eq!(dist.pretty_name.as_deref(), Some("Debian GNU/Linux 12 (bookworm)"));
        assert_eq!(dist.path, "etc/os-release");
    }

    #[test]
    fn os_release_families() {
        assert_eq!(
            osr("PRETTY_NAME=\"Ubuntu 22.04.4 LTS\"\nNAME=\"Ubuntu\"\nVERSION_ID=\"22.04\"\n\
                 ID=ubuntu\nID_LIKE=debian\n"),
            s("ubuntu", "22.04")
        );
        assert_eq!(
            osr("NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\n\
                 PRETTY_NAME=\"Alpine Linux v3.19\"\n"),
            s("alpine", "3.19.1")
        );
        assert_eq!(
            osr("NAME=\"Red Hat Enterprise Linux\"\nVERSION=\"8.9 (Ootpa)\"\nID=\"rhel\"\n\
                 ID_LIKE=\"fedora\"\nVERSION_ID=\"8.9\"\nPLATFORM_ID=\"platform:el8\"\n"),
            s("rhel", "8.9")
        );
        assert_eq!(
            osr("NAME=\"Rocky Linux\"\nVERSION=\"9.3 (Blue Onyx)\"\nID=\"rocky\"\n\
                 ID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.3\"\n"),
            s("rocky", "9.3")
        );
        assert_eq!(
            osr("NAME=\"AlmaLinux\"\nVERSION=\"9.3 (Shamrock Pampas Cat)\"\nID=\"almalinux\"\n\
                 ID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.3\"\n"),
            s("almalinux", "9.3")
        );
        assert_eq!(
            osr("NAME=\"Amazon Linux\"\nVERSION=\"2023\"\nID=\"amzn\"\nID_LIKE=\"fedora\"\n\
                 VERSION_ID=\"2023\"\nPRETTY_NAME=\"Amazon Linux 2023.3.20240219\"\n"),
            s("amzn", "2023")
        );
        assert_eq!(
            osr("NAME=\"SLES\"\nVERSION=\"15-SP5\"\nVERSION_ID=\"15.5\"\n\
                 PRETTY_NAME=\"SUSE Linux Enterprise Server 15 SP5\"\nID=\"sles\"\n\
                 ID_LIKE=\"suse\"\n"),
            s("sles", "15.5")
        );
        assert_eq!(
            osr("NAME=\"Common Base Linux Mariner\"\nVERSION=\"2.0.20240123\"\nID=mariner\n\
                 VERSION_ID=\"2.0\"\nPRETTY_NAME=\"CBL-Mariner/Linux\"\n"),
            s("mariner", "2.0")
        );
        assert_eq!(
            osr("NAME=\"Fedora Linux\"\nVERSION=\"39 (Container Image)\"\nID=fedora\n\
                 VERSION_ID=39\nPRETTY_NAME=\"Fedora Linux 39 (Container Image)\"\n"),
            s("fedora", "39")
        );
        assert_eq!(
            osr("NAME=\"CentOS Linux\"\nVERSION=\"7 (Core)\"\nID=\"centos\"\n\
                 ID_LIKE=\"rhel fedora\"\nVERSION_ID=\"7\"\n"),
            s("centos", "7")
        );
        assert_eq!(
            osr("NAME=\"openSUSE Leap\"\nVERSION=\"15.5\"\nID=\"opensuse-leap\"\nVERSION_ID=\"15.5\"\n"),
            s("opensuse-leap", "15.5")
        );
    }

    #[test]
    fn prefers_etc_then_usr_lib() {
        let dist = d(&[
            ("usr/lib/os-release", "ID=debian\nVERSION_ID=11\n"),
            ("etc/os-release", "ID=ubuntu\nVERSION_ID=\"24.04\"\n"),
        ])
        .unwrap();
        assert_eq!((dist.id.as_str(), dist.path.as_str()), ("ubuntu", "etc/os-release"));
        let dist =
            d(&[("usr/lib/os-release", "ID=debian\nVERSION_ID=11\n"), ("etc/debian_version", "11.9\n")]).unwrap();
        assert_eq!((dist.id.as_str(), dist.path.as_str()), ("debian", "usr/lib/os-release"));
        // A garbage etc/os-release does not hide a good usr/lib one.
        let dist =
            d(&[("etc/os-release", "\u{0}\u{1}garbage"), ("usr/lib/os-release", "ID=alpine\nVERSION_ID=3.18.4\n")])
                .unwrap();
        assert_eq!(dist.id, "alpine");
    }

    #[test]
    fn debian_testing_without_version_id() {
        let dist = d(&[
            ("etc/os-release", "PRETTY_NAME=\"Debian GNU/Linux trixie/sid\"\nID=debian\n"),
            ("etc/debian_version", "trixie/sid\n"),
        ])
        .unwrap();
        assert_eq!(dist.id, "debian");
        assert_eq!(dist.version_id, "");
        assert_eq!(dist.pretty_name.as_deref(), Some("Debian GNU/Linux trixie/sid"));
        // Odd image: os-release without VERSION_ID but a numeric debian_version.
        let dist = d(&[("etc/os-release", "ID=debian\n"), ("etc/debian_version", "12.5\n")]).unwrap();
        assert_eq!(dist.version_id, "12");
        assert_eq!(dist.path, "etc/os-release");
    }

    #[test]
    fn fallbacks() {
        assert_eq!(idv(d(&[("etc/alpine-release", "3.19.1\n")])), s("alpine", "3.19.1"));
        assert_eq!(
            idv(d(&[("etc/redhat-release", "CentOS Linux release 7.9.2009 (Core)\n")])),
            s("centos", "7.9.2009")
        );
        assert_eq!(idv(d(&[("etc/redhat-release", "CentOS release 6.10 (Final)\n")])), s("centos", "6.10"));
        assert_eq!(
            idv(d(&[("etc/redhat-release", "Red Hat Enterprise Linux release 8.9 (Ootpa)\n")])),
            s("rhel", "8.9")
        );
        assert_eq!(
            idv(d(&[("etc/redhat-release", "Red Hat Enterprise Linux Server release 7.9 (Maipo)\n")])),
            s("rhel", "7.9")
        );
        assert_eq!(idv(d(&[("etc/redhat-release", "Rocky Linux release 9.3 (Blue Onyx)\n")])), s("rocky", "9.3"));
        assert_eq!(
            idv(d(&[("etc/redhat-release", "AlmaLinux release 9.3 (Shamrock Pampas Cat)\n")])),
            s("almalinux", "9.3")
        );
        assert_eq!(idv(d(&[("etc/redhat-release", "Fedora release 39 (Thirty Nine)\n")])), s("fedora", "39"));
        assert_eq!(idv(d(&[("etc/centos-release", "CentOS Stream release 9\n")])), s("centos", "9"));
        assert_eq!(idv(d(&[("etc/system-release", "Amazon Linux release 2 (Karoo)\n")])), s("amzn", "2"));
        assert_eq!(idv(d(&[("etc/system-release", "Amazon Linux AMI release 2018.03\n")])), s("amzn", "2018.03"));
        assert_eq!(idv(d(&[("etc/debian_version", "12.4\n")])), s("debian", "12"));
        assert_eq!(idv(d(&[("etc/debian_version", "6.0.10\n")])), s("debian", "6"));
        assert_eq!(idv(d(&[("etc/debian_version", "bookworm/sid\n")])), s("debian", ""));
        assert_eq!(
            idv(d(&[
                ("etc/debian_version", "bookworm/sid\n"),
                ("etc/lsb-release", "DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=14.04\n"),
            ])),
            s("ubuntu", "14.04")
        );
        // Leading '/' or './' tolerated.
        assert_eq!(idv(d(&[("/etc/alpine-release", "3.18.0")])), s("alpine", "3.18.0"));
        assert_eq!(idv(d(&[("./etc/alpine-release", "3.18.0")])), s("alpine", "3.18.0"));
    }

    #[test]
    fn garbage_is_none() {
        assert!(d(&[]).is_none());
        assert!(d(&[("etc/os-release", "")]).is_none());
        assert!(d(&[("etc/os-release", "\u{0}\u{1}\u{2}")]).is_none());
        assert!(d(&[("etc/alpine-release", "not a version")]).is_none());
        assert!(d(&[("etc/redhat-release", "release")]).is_none());
        assert!(d(&[("etc/redhat-release", "Foo release (x)")]).is_none());
        assert!(d(&[("etc/debian_version", "\u{fffd}\u{fffd}")]).is_none());
        assert!(d(&[("etc/some-other-file", "ID=x\n")]).is_none());
        let bin: Vec<u8> = (0..=255u8).cycle().take(200_000).collect();
        let _ = detect_from(&[
            ("etc/os-release", &bin),
            ("etc/redhat-release", &bin),
            ("etc/debian_version", &bin),
            ("etc/alpine-release", &bin),
        ]);
        // NAME without ID: the spec's default.
        assert_eq!(osr("NAME=Linux\n"), s("linux", ""));
    }
}
