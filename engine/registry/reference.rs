//! Image references as registries know them: `HOST[:PORT]/REPO[:TAG|@sha256:HEX]`.
//! Parsed by hand: the grammar is small (distribution-spec's name, tag and digest rules) and the
//! messages say which part is wrong.

use crate::digest::Digest;
use anyhow::{Result, bail};
use std::fmt;

/// Docker Hub's registry as `docker://` references without a host mean it.
const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_API: &str = "registry-1.docker.io";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `host[:port]`, as written.
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl Reference {
    /// Parses a reference that names its registry host (`HOST[:PORT]/REPO...`). With
    /// `implicit_docker_hub` (skopeo's `docker://` form), a first component that is not a host
    /// means Docker Hub, and one-component names its `library/` namespace.
    pub fn parse_with(text: &str, implicit_docker_hub: bool) -> Result<Reference> {
        let (first, rest) = text.split_once('/').unwrap_or(("", text));
        let (registry, name) = if is_registry_host(first) {
            (first.to_string(), rest)
        } else if implicit_docker_hub {
            let name = if text.contains('/') { text.to_string() } else { format!("library/{text}") };
            return Reference::split(DOCKER_HUB.to_string(), &name, text);
        } else {
            bail!(
                "'{text}' does not start with a registry host (HOST[:PORT]/REPO[:TAG|@sha256:DIGEST], the host containing '.' or ':' or being localhost)"
            );
        };
        Reference::split(registry, name, text)
    }

    /// `HOST[:PORT]/REPO[:TAG|@sha256:DIGEST]` with an explicit host.
    pub fn parse(text: &str) -> Result<Reference> {
        Reference::parse_with(text, false)
    }

    fn split(registry: String, name: &str, text: &str) -> Result<Reference> {
        let (name, digest) = match name.split_once('@') {
            Some((name, digest)) => (name, Some(Digest::parse(digest).map_err(|e| anyhow::anyhow!("'{text}': {e}"))?)),
            None => (name, None),
        };
        // A ':' after the last '/' starts the tag.
        let (repository, tag) = match name.rfind(':') {
            Some(colon) if !name[colon..].contains('/') => (&name[..colon], Some(name[colon + 1..].to_string())),
            _ => (name, None),
        };
        if repository.is_empty() {
            bail!("'{text}' names no repository after the registry host");
        }
        for component in repository.split('/') {
            if !valid_component(component) {
                bail!(
                    "'{text}': repository '{repository}' is not valid: components are lowercase letters and digits, separated by '.', '_', '__' or dashes"
                );
            }
        }
        if let Some(tag) = &tag
            && !valid_tag(tag)
        {
            bail!(
                "'{text}': tag '{tag}' is not valid: up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'"
            );
        }
        Ok(Reference { registry, repository: repository.to_string(), tag, digest })
    }

    /// What the manifests endpoint is asked for: the digest when given, else the tag, else `latest`.
    pub fn manifest_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(digest), _) => digest.to_string(),
            (None, Some(tag)) => tag.clone(),
            (None, None) => "latest".to_string(),
        }
    }

    /// The host the Distribution API is served from (Docker Hub's differs from its name).
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB { DOCKER_HUB_API } else { &self.registry }
    }
}

/// Docker's rule: the first component is a host when it has a '.' or a ':' or is `localhost`
/// (and, unlike `.` or `..`, starts like a host name or an IPv6 literal).
pub fn is_registry_host(component: &str) -> bool {
    component.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '[')
        && (component.contains('.') || component.contains(':') || component == "localhost")
}

fn valid_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(&bytes[0]) || !alnum(&bytes[bytes.len() - 1]) {
        return false;
    }
    // Separators: one '.', one or two '_', or any number of '-'.
    let mut run = String::new();
    for &b in bytes {
        if alnum(&b) {
            if !(run.is_empty() || run == "." || run == "_" || run == "__" || run.bytes().all(|c| c == b'-')) {
                return false;
            }
            run.clear();
        } else if matches!(b, b'.' | b'_' | b'-') {
            run.push(b as char);
        } else {
            return false;
        }
    }
    true
}

fn valid_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn parses_host_repo_tag_and_digest() {
        let r = Reference::parse("127.0.0.1:5000/team/app:1.2").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
            ("127.0.0.1:5000", "team/app", Some("1.2"))
        );
        assert_eq!(r.manifest_reference(), "1.2");
        let r = Reference::parse(&format!("registry.example.com/app@{DIGEST}")).unwrap();
        assert_eq!((r.tag.as_deref(), r.manifest_reference()), (None, DIGEST.to_string()));
        let r = Reference::parse(&format!("localhost/a/b:t@{DIGEST}")).unwrap();
        assert_eq!((r.repository.as_str(), r.tag.as_deref()), ("a/b", Some("t")));
        assert_eq!(r.to_string(), format!("localhost/a/b:t@{DIGEST}"));
        assert_eq!(Reference::parse("localhost:5000/app").unwrap().manifest_reference(), "latest");
    }

    #[test]
    fn docker_hub_only_when_implicit() {
        assert!(Reference::parse("alpine:3.19").is_err());
        let r = Reference::parse_with("alpine:3.19", true).unwrap();
        assert_eq!((r.api_host(), r.repository.as_str()), ("registry-1.docker.io", "library/alpine"));
        assert_eq!(Reference::parse_with("bitnami/redis", true).unwrap().repository, "bitnami/redis");
    }

    #[test]
    fn rejects_malformed_parts() {
        for bad in ["host.io/", "host.io/App", "host.io/a..b", "host.io/a:-x", "host.io/a@sha256:12", "host.io/-a"] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
        assert!(Reference::parse("host.io/a__b/c-d--e.f:v1.0_x").is_ok());
        assert!(!is_registry_host("..") && !is_registry_host(".") && !is_registry_host("app"));
    }
}
