//! Package URLs (`purl`) built per the package-url specification
//! (<https://github.com/package-url/purl-spec>).
//!
//! Canonical form: `pkg:TYPE/NAMESPACE/NAME@VERSION?QUALIFIERS#SUBPATH`, where
//! - the type is lower-cased and never encoded;
//! - each namespace segment, the name and the version are percent-encoded, keeping only the
//!   unreserved characters `A-Z a-z 0-9 - . _ ~` (so `+` -> `%2B`, `:` -> `%3A`, `@` -> `%40`,
//!   `/` inside a name -> `%2F`);
//! - qualifier keys are lower-cased and sorted, qualifiers with an empty value are dropped, and
//!   values are encoded like the other components except that `:` and `/` stay as they are (the
//!   spec's canonical test data keeps `repository_url=repo.spring.io/release` and
//!   `vcs_url=git%2Bhttps://...` that way);
//! - subpath segments `""`, `"."` and `".."` are dropped and each remaining segment is encoded.
//!
//! A few types have spec-mandated name normalization, applied by [`PackageUrl::to_string`]:
//! `pypi` (lower-case, `_` -> `-`), `github`/`bitbucket` (lower-case namespace and name),
//! `deb`/`apk` (lower-case namespace and name), `rpm` (lower-case namespace).

use std::fmt;

/// A package URL under construction. `Display`/`to_string` gives the canonical string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageUrl {
    ty: String,
    namespace: Option<String>,
    name: String,
    version: Option<String>,
    qualifiers: Vec<(String, String)>,
    subpath: Option<String>,
}

impl PackageUrl {
    /// A purl of type `ty` (e.g. "deb", "npm") for package `name`.
    pub fn new(ty: &str, name: &str) -> Self {
        PackageUrl {
            ty: ty.to_ascii_lowercase(),
            namespace: None,
            name: name.to_string(),
            version: None,
            qualifiers: Vec::new(),
            subpath: None,
        }
    }

    /// Namespace, `/`-separated segments (e.g. "debian", "@angular", "org.apache.commons").
    pub fn with_namespace(mut self, namespace: &str) -> Self {
        self.namespace = Some(namespace.to_string());
        self
    }

    pub fn with_version(mut self, version: &str) -> Self {
        self.version = Some(version.to_string());
        self
    }

    /// Adds (or replaces) a qualifier. Keys are case-insensitive; empty values are dropped on
    /// output.
    pub fn with_qualifier(mut self, key: &str, value: &str) -> Self {
        let key = key.to_ascii_lowercase();
        self.qualifiers.retain(|(k, _)| *k != key);
        self.qualifiers.push((key, value.to_string()));
        self
    }

    /// Subpath inside the package, `/`-separated.
    pub fn with_subpath(mut self, subpath: &str) -> Self {
        self.subpath = Some(subpath.to_string());
        self
    }

    fn normalized_namespace(&self) -> Option<String> {
        let ns = self.namespace.as_deref()?;
        Some(match self.ty.as_str() {
            "github" | "bitbucket" | "deb" | "apk" | "rpm" | "pypi" => ns.to_ascii_lowercase(),
            _ => ns.to_string(),
        })
    }

    fn normalized_name(&self) -> String {
        match self.ty.as_str() {
            "pypi" => self.name.to_ascii_lowercase().replace('_', "-"),
            "github" | "bitbucket" | "deb" | "apk" => self.name.to_ascii_lowercase(),
            _ => self.name.clone(),
        }
    }
}

impl fmt::Display for PackageUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("pkg:")?;
        f.write_str(&self.ty)?;
        f.write_str("/")?;
        if let Some(ns) = self.normalized_namespace() {
            for seg in ns.split('/').filter(|s| !s.is_empty()) {
                f.write_str(&encode(seg))?;
                f.write_str("/")?;
            }
        }
        f.write_str(&encode(&self.normalized_name()))?;
        if let Some(v) = self.version.as_deref().filter(|v| !v.is_empty()) {
            f.write_str("@")?;
            f.write_str(&encode(v))?;
        }
        let mut quals: Vec<&(String, String)> =
            self.qualifiers.iter().filter(|(k, v)| !k.is_empty() && !v.is_empty()).collect();
        quals.sort_by(|a, b| a.0.cmp(&b.0));
        for (i, (k, v)) in quals.iter().enumerate() {
            f.write_str(if i == 0 { "?" } else { "&" })?;
            f.write_str(k)?;
            f.write_str("=")?;
            f.write_str(&encode_qualifier_value(v))?;
        }
        if let Some(sp) = &self.subpath {
            let segs: Vec<String> =
                sp.split('/').filter(|s| !s.is_empty() && *s != "." && *s != "..").map(encode).collect();
            if !segs.is_empty() {
                f.write_str("#")?;
                f.write_str(&segs.join("/"))?;
            }
        }
        Ok(())
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn encode_with(s: &str, keep: impl Fn(u8) -> bool) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if keep(b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

/// Percent-encodes one purl component (namespace segment, name, version, subpath segment):
/// everything except `A-Z a-z 0-9 - . _ ~` becomes `%XX` (UTF-8 bytes, upper-case hex).
pub fn encode(s: &str) -> String {
    encode_with(s, is_unreserved)
}

/// Percent-encodes a qualifier value: like [`encode`], but `:` and `/` are kept.
pub fn encode_qualifier_value(s: &str) -> String {
    encode_with(s, |b| is_unreserved(b) || b == b':' || b == b'/')
}

/// Splits a Debian/RPM-style `[epoch:]version` into `(epoch, rest)`. The epoch is returned only
/// when it is a non-empty run of ASCII digits before the first `:`.
pub fn split_epoch(version: &str) -> (Option<&str>, &str) {
    match version.split_once(':') {
        Some((e, rest)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => (Some(e), rest),
        _ => (None, version),
    }
}

/// The purl of an OS package, as Trivy and Syft write them:
/// `pkg:TYPE/NAMESPACE/NAME@VERSION?arch=ARCH&distro=ID-VERSION_ID[&epoch=N]`.
///
/// An epoch in `version` (`1:2.5.1-4`) is moved to an `epoch` qualifier, following the purl
/// spec's rpm type definition and Trivy (`pkg:deb/debian/attr@2.5.1-4?arch=amd64&distro=debian-12&epoch=1`);
/// an epoch of `0` is the same as none and is dropped. `distro` is `ID-VERSION_ID`, or `ID` alone
/// when the version is unknown, and is omitted when the distro is unknown.
pub fn os_package(
    ty: &str,
    namespace: &str,
    name: &str,
    version: &str,
    arch: Option<&str>,
    distro: Option<(&str, &str)>,
) -> String {
    let (epoch, bare) = split_epoch(version);
    let mut p = PackageUrl::new(ty, name).with_namespace(namespace).with_version(bare);
    if let Some(a) = arch {
        p = p.with_qualifier("arch", a);
    }
    if let Some((id, ver)) = distro {
        let d = if ver.is_empty() { id.to_string() } else { format!("{id}-{ver}") };
        p = p.with_qualifier("distro", &d);
    }
    if let Some(e) = epoch.map(|e| e.trim_start_matches('0')).filter(|e| !e.is_empty()) {
        p = p.with_qualifier("epoch", e);
    }
    p.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_examples() {
        let cases = [
            (
                PackageUrl::new("deb", "curl")
                    .with_namespace("debian")
                    .with_version("7.50.3-1")
                    .with_qualifier("distro", "jessie")
                    .with_qualifier("arch", "i386"),
                "pkg:deb/debian/curl@7.50.3-1?arch=i386&distro=jessie",
            ),
            (
                PackageUrl::new("docker", "cassandra").with_version("sha256:244fd47e07d1004f0aed9c"),
                "pkg:docker/cassandra@sha256%3A244fd47e07d1004f0aed9c",
            ),
            (
                PackageUrl::new("docker", "dockerimage")
                    .with_namespace("customer")
                    .with_version("sha256:244fd47e07d1004f0aed9c")
                    .with_qualifier("repository_url", "gcr.io"),
                "pkg:docker/customer/dockerimage@sha256%3A244fd47e07d1004f0aed9c?repository_url=gcr.io",
            ),
            (
                PackageUrl::new("npm", "animation").with_namespace("@angular").with_version("12.3.1"),
                "pkg:npm/%40angular/animation@12.3.1",
            ),
            (
                PackageUrl::new("golang", "genproto")
                    .with_namespace("google.golang.org")
                    .with_subpath("googleapis/api/annotations"),
                "pkg:golang/google.golang.org/genproto#googleapis/api/annotations",
            ),
            (
                PackageUrl::new("maven", "batik-anim")
                    .with_namespace("org.apache.xmlgraphics")
                    .with_version("1.9.1")
                    .with_qualifier("repository_url", "repo.spring.io/release"),
                "pkg:maven/org.apache.xmlgraphics/batik-anim@1.9.1?repository_url=repo.spring.io/release",
            ),
            (
                PackageUrl::new("rpm", "curl")
                    .with_namespace("fedora")
                    .with_version("7.50.3-1.fc25")
                    .with_qualifier("arch", "i386")
                    .with_qualifier("distro", "fedora-25"),
                "pkg:rpm/fedora/curl@7.50.3-1.fc25?arch=i386&distro=fedora-25",
            ),
            (
                PackageUrl::new("GitHub", "Purl-Spec")
                    .with_namespace("Package-URL")
                    .with_version("244fd47e07d1004f0aed9c"),
                "pkg:github/package-url/purl-spec@244fd47e07d1004f0aed9c",
            ),
            (PackageUrl::new("pypi", "Django_Package").with_version("1.11.1"), "pkg:pypi/django-package@1.11.1"),
            (
                PackageUrl::new("nuget", "EnterpriseLibrary.Common").with_version("6.0.1304"),
                "pkg:nuget/EnterpriseLibrary.Common@6.0.1304",
            ),
            (
                PackageUrl::new("generic", "bitwarderl")
                    .with_qualifier("vcs_url", "git+https://git.fsfe.org/dxtr/bitwarderl@cc55108da32"),
                "pkg:generic/bitwarderl?vcs_url=git%2Bhttps://git.fsfe.org/dxtr/bitwarderl%40cc55108da32",
            ),
        ];
        for (p, want) in cases {
            assert_eq!(p.to_string(), want);
        }
    }

    #[test]
    fn drops_empty_qualifiers_and_dot_subpaths() {
        let p = PackageUrl::new("generic", "x")
            .with_qualifier("Empty", "")
            .with_qualifier("B", "2")
            .with_qualifier("a", "1")
            .with_subpath("/./../a//b c/");
        assert_eq!(p.to_string(), "pkg:generic/x?a=1&b=2#a/b%20c");
    }

    #[test]
    fn encodes_non_ascii_and_reserved() {
        assert_eq!(encode("a b/c?d#e%f"), "a%20b%2Fc%3Fd%23e%25f");
        assert_eq!(encode("é"), "%C3%A9");
        assert_eq!(encode("~._-AZaz09"), "~._-AZaz09");
    }

    #[test]
    fn os_package_like_trivy() {
        assert_eq!(
            os_package("deb", "debian", "libc6", "2.36-9+deb12u4", Some("amd64"), Some(("debian", "12"))),
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12"
        );
        assert_eq!(
            os_package("deb", "debian", "bsdutils", "1:2.38.1-5+deb12u3", Some("amd64"), Some(("debian", "12"))),
            "pkg:deb/debian/bsdutils@2.38.1-5%2Bdeb12u3?arch=amd64&distro=debian-12&epoch=1"
        );
        assert_eq!(
            os_package("deb", "ubuntu", "zlib1g", "1:1.2.11.dfsg-2ubuntu9", Some("amd64"), Some(("ubuntu", "22.04"))),
            "pkg:deb/ubuntu/zlib1g@1.2.11.dfsg-2ubuntu9?arch=amd64&distro=ubuntu-22.04&epoch=1"
        );
        assert_eq!(os_package("deb", "debian", "x", "0:1.0", None, None), "pkg:deb/debian/x@1.0");
        assert_eq!(
            os_package("apk", "alpine", "musl", "1.2.4-r2", Some("x86_64"), Some(("alpine", "3.19.1"))),
            "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.19.1"
        );
        assert_eq!(
            os_package("deb", "debian", "x", "1.0", Some("all"), Some(("debian", ""))),
            "pkg:deb/debian/x@1.0?arch=all&distro=debian"
        );
    }

    #[test]
    fn split_epoch_cases() {
        assert_eq!(split_epoch("1:2.5"), (Some("1"), "2.5"));
        assert_eq!(split_epoch("2.5"), (None, "2.5"));
        assert_eq!(split_epoch("a:2.5"), (None, "a:2.5"));
        assert_eq!(split_epoch(":2.5"), (None, ":2.5"));
        assert_eq!(split_epoch("1:2:3"), (Some("1"), "2:3"));
    }
}
