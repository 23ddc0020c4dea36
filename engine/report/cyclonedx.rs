//! CycloneDX 1.6 JSON output: an SBOM of the image (one component per package found, plus the
//! operating system) with the vulnerabilities found in it.
//!
//! The image is `metadata.component` (type `container`, its digest as a hash and properties).
//! Packages are `library` components whose `bom-ref` is their purl, made unique when the same
//! purl was found at several paths. Vulnerabilities are grouped by id; each names the components
//! it affects. Configuration issues have no place in an SBOM and are left to the other formats.
//!
//! `serialNumber` is a fresh random (version 4) UUID per document, as the specification asks of
//! every BOM generated, and `metadata.timestamp` is the time of rendering.

use super::sarif::{advisory_url, image_name, vulnerability_packages};
use super::{PackageEntry, Report, VulnerabilityEntry, severity_name};
use crate::model::Severity;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const SCHEMA_URI: &str = "http://cyclonedx.org/schema/bom-1.6.schema.json";
/// Prefix of ecr-engine's own property names (CycloneDX property taxonomy: `vendor:name`).
const NS: &str = "ecr-engine";

pub fn render(report: &Report) -> String {
    let now = OffsetDateTime::now_utc();
    serde_json::to_string_pretty(&bom(report, now, &random_uuid(report, now))).expect("CycloneDX serializes")
}

fn bom(report: &Report, now: OffsetDateTime, serial: &str) -> Value {
    let image_ref = image_ref(report);
    let package_refs = package_refs(&report.packages);
    let os = report.image.os.as_ref();
    let os_ref = os.map(|os| format!("os:{}@{}", os.id, os.version_id));

    let mut components = Vec::new();
    if let (Some(os), Some(os_ref)) = (os, &os_ref) {
        let mut component = Map::new();
        component.insert("type".into(), json!("operating-system"));
        component.insert("bom-ref".into(), json!(os_ref));
        component.insert("name".into(), json!(os.id));
        component.insert("version".into(), json!(os.version_id));
        if let Some(pretty) = &os.pretty_name {
            component.insert("description".into(), json!(pretty));
        }
        if let Some(eol) = os.eol {
            component.insert("properties".into(), json!([property("os:eol", &eol.to_string())]));
        }
        components.push(Value::Object(component));
    }
    for (package, bom_ref) in report.packages.iter().zip(&package_refs) {
        components.push(package_component(package, bom_ref));
    }

    // The image contains the OS and the language packages; the OS its own packages.
    let mut image_depends: Vec<&str> = os_ref.iter().map(String::as_str).collect();
    let mut os_depends: Vec<&str> = Vec::new();
    for (package, bom_ref) in report.packages.iter().zip(&package_refs) {
        if os_ref.is_some() && is_os_package(&package.ecosystem) {
            os_depends.push(bom_ref);
        } else {
            image_depends.push(bom_ref);
        }
    }
    let mut dependencies = vec![json!({ "ref": image_ref, "dependsOn": image_depends })];
    if let Some(os_ref) = &os_ref {
        dependencies.push(json!({ "ref": os_ref, "dependsOn": os_depends }));
    }
    for bom_ref in &package_refs {
        dependencies.push(json!({ "ref": bom_ref }));
    }

    let timestamp = now.replace_nanosecond(0).unwrap_or(now).format(&Rfc3339).expect("RFC 3339 timestamp");
    let mut metadata = Map::new();
    metadata.insert("timestamp".into(), json!(timestamp));
    metadata.insert(
        "tools".into(),
        json!({ "components": [{
            "type": "application",
            "name": report.tool.name,
            "version": report.tool.version,
        }]}),
    );
    metadata.insert("component".into(), image_component(report, &image_ref));
    let mut bom_properties = vec![property("scan:complete", &report.complete.to_string())];
    bom_properties.extend(report.errors.iter().map(|e| property("scan:error", e)));
    bom_properties.extend(report.warnings.iter().map(|w| property("scan:warning", w)));
    metadata.insert("properties".into(), Value::Array(bom_properties));

    let mut bom = Map::new();
    bom.insert("$schema".into(), json!(SCHEMA_URI));
    bom.insert("bomFormat".into(), json!("CycloneDX"));
    bom.insert("specVersion".into(), json!("1.6"));
    bom.insert("serialNumber".into(), json!(format!("urn:uuid:{serial}")));
    bom.insert("version".into(), json!(1));
    bom.insert("metadata".into(), Value::Object(metadata));
    bom.insert("components".into(), Value::Array(components));
    bom.insert("dependencies".into(), Value::Array(dependencies));
    bom.insert("vulnerabilities".into(), Value::Array(vulnerabilities(report, &package_refs)));
    Value::Object(bom)
}

fn is_os_package(ecosystem: &str) -> bool {
    matches!(ecosystem, "deb" | "apk" | "rpm")
}

fn image_ref(report: &Report) -> String {
    match &report.image.digest {
        Some(digest) => format!("image:{digest}"),
        None => "image".to_string(),
    }
}

fn image_component(report: &Report, image_ref: &str) -> Value {
    let mut component = Map::new();
    component.insert("type".into(), json!("container"));
    component.insert("bom-ref".into(), json!(image_ref));
    component.insert("name".into(), json!(image_name(report)));
    if let Some(tag) = report.image.repo_tags.first().and_then(|t| tag_of(t)) {
        component.insert("version".into(), json!(tag));
    }
    if let Some(hash) = report.image.digest.as_deref().and_then(hash) {
        component.insert("hashes".into(), json!([hash]));
    }
    let mut properties = vec![property("image:target", &report.target)];
    let image = &report.image;
    for (name, value) in [
        ("image:digest", &image.digest),
        ("image:config_digest", &image.config_digest),
        ("image:platform", &image.platform),
    ] {
        if let Some(value) = value {
            properties.push(property(name, value));
        }
    }
    properties.extend(image.repo_tags.iter().map(|t| property("image:repo_tag", t)));
    for layer in &image.layers {
        properties.push(property("image:layer", &layer.digest));
        if let Some(diff_id) = &layer.diff_id {
            properties.push(property("image:diff_id", diff_id));
        }
    }
    component.insert("properties".into(), Value::Array(properties));
    Value::Object(component)
}

/// `repo:tag` -> `tag`; a registry port (`host:5000/repo`) is not a tag.
fn tag_of(reference: &str) -> Option<&str> {
    let i = reference.rfind(':')?;
    let tag = &reference[i + 1..];
    (!tag.contains('/') && !tag.is_empty()).then_some(tag)
}

/// A `sha256:<hex>` (or sha384/sha512) digest as a CycloneDX hash.
fn hash(digest: &str) -> Option<Value> {
    let (algorithm, hex) = digest.split_once(':')?;
    let (alg, len) = match algorithm {
        "sha256" => ("SHA-256", 64),
        "sha384" => ("SHA-384", 96),
        "sha512" => ("SHA-512", 128),
        _ => return None,
    };
    (hex.len() == len && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| json!({ "alg": alg, "content": hex }))
}

/// One bom-ref per package: its purl when no other package has the same one, else `purl|path`
/// with the path it was found at (and `|n`, should even that repeat). Not `#`: that would read
/// as a purl subpath.
fn package_refs(packages: &[PackageEntry]) -> Vec<String> {
    let base: Vec<String> = packages
        .iter()
        .map(|p| match &p.purl {
            Some(purl) if !purl.is_empty() => purl.clone(),
            _ => format!("{NS}:{}/{}@{}", p.ecosystem, p.name, p.version),
        })
        .collect();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for b in &base {
        *counts.entry(b).or_default() += 1;
    }
    let mut used: HashSet<String> = HashSet::new();
    packages
        .iter()
        .zip(&base)
        .map(|(package, base)| {
            let mut candidate =
                if counts[base.as_str()] > 1 { format!("{base}|{}", package.path) } else { base.clone() };
            let mut n = 1;
            while used.contains(&candidate) {
                n += 1;
                candidate = format!("{base}|{}|{n}", package.path);
            }
            used.insert(candidate.clone());
            candidate
        })
        .collect()
}

fn package_component(package: &PackageEntry, bom_ref: &str) -> Value {
    let mut component = Map::new();
    component.insert("type".into(), json!("library"));
    component.insert("bom-ref".into(), json!(bom_ref));
    component.insert("name".into(), json!(package.name));
    component.insert("version".into(), json!(package.version));
    if let Some(licenses) = licenses(&package.licenses) {
        component.insert("licenses".into(), licenses);
    }
    if let Some(purl) = package.purl.as_deref().filter(|p| !p.is_empty()) {
        component.insert("purl".into(), json!(purl));
    }
    let mut properties = vec![
        property("package:ecosystem", &package.ecosystem),
        property("package:path", &package.path),
        property("package:plugin", &package.plugin),
    ];
    if let Some(layer) = &package.layer {
        properties.push(property("package:layer", layer));
    }
    for (name, value) in [
        ("package:source_name", &package.source_name),
        ("package:source_version", &package.source_version),
        ("package:arch", &package.arch),
    ] {
        if let Some(value) = value {
            properties.push(property(name, value));
        }
    }
    for (key, value) in &package.properties {
        properties.push(property(&format!("package:{key}"), value));
    }
    component.insert("properties".into(), Value::Array(properties));
    Value::Object(component)
}

/// Licenses as CycloneDX allows them: a single SPDX expression on its own (`MIT OR Apache-2.0`),
/// else one entry per license, by SPDX id when it is a well-known one, by name otherwise
/// (Debian's `GPL-2+` is not an SPDX id, and an unknown id fails the schema).
fn licenses(licenses: &[String]) -> Option<Value> {
    let licenses: Vec<&str> = licenses.iter().map(|l| l.trim()).filter(|l| !l.is_empty()).collect();
    let mut unique: Vec<&str> = Vec::new();
    for license in licenses {
        if !unique.contains(&license) {
            unique.push(license);
        }
    }
    match unique.as_slice() {
        [] => None,
        [only] if is_spdx_expression(only) => Some(json!([{ "expression": only }])),
        many => Some(Value::Array(
            many.iter()
                .map(|l| match spdx_id(l) {
                    Some(id) => json!({ "license": { "id": id } }),
                    None => json!({ "license": { "name": l } }),
                })
                .collect(),
        )),
    }
}

/// SPDX ids common in container images, exactly as the SPDX license list spells them.
const SPDX_IDS: &[&str] = &[
    "0BSD",
    "AGPL-3.0-only",
    "AGPL-3.0-or-later",
    "Apache-1.1",
    "Apache-2.0",
    "Artistic-1.0",
    "Artistic-2.0",
    "BlueOak-1.0.0",
    "BSD-1-Clause",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "BSD-4-Clause",
    "BSL-1.0",
    "CC-BY-3.0",
    "CC-BY-4.0",
    "CC-BY-SA-4.0",
    "CC0-1.0",
    "curl",
    "EPL-1.0",
    "EPL-2.0",
    "GPL-1.0-only",
    "GPL-1.0-or-later",
    "GPL-2.0-only",
    "GPL-2.0-or-later",
    "GPL-3.0-only",
    "GPL-3.0-or-later",
    "ISC",
    "LGPL-2.0-only",
    "LGPL-2.0-or-later",
    "LGPL-2.1-only",
    "LGPL-2.1-or-later",
    "LGPL-3.0-only",
    "LGPL-3.0-or-later",
    "MIT",
    "MIT-0",
    "MPL-1.1",
    "MPL-2.0",
    "OpenSSL",
    "PSF-2.0",
    "Python-2.0",
    "Unlicense",
    "WTFPL",
    "X11",
    "Zlib",
];

/// SPDX ids match case-insensitively; the canonical spelling is returned.
fn spdx_id(license: &str) -> Option<&'static str> {
    SPDX_IDS.iter().find(|id| id.eq_ignore_ascii_case(license)).copied()
}

/// A compound SPDX expression: license ids (or LicenseRef-s) joined by AND, OR and WITH, with
/// parentheses. A lone id is not an expression here (it is reported as a license id or name).
fn is_spdx_expression(text: &str) -> bool {
    let spaced = text.replace('(', " ( ").replace(')', " ) ");
    let tokens: Vec<&str> = spaced.split_whitespace().collect();
    let operators = tokens.iter().filter(|t| matches!(**t, "AND" | "OR" | "WITH")).count();
    let mut depth = 0i32;
    for token in &tokens {
        match *token {
            "(" => depth += 1,
            ")" => depth -= 1,
            "AND" | "OR" | "WITH" => {}
            id => {
                if !id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+' | b':')) {
                    return false;
                }
            }
        }
        if depth < 0 {
            return false;
        }
    }
    operators > 0 && depth == 0
}

// ---------------------------------------------------------------------------------------------
// Vulnerabilities
// ---------------------------------------------------------------------------------------------

fn vulnerabilities(report: &Report, package_refs: &[String]) -> Vec<Value> {
    let packages = vulnerability_packages(report);
    // Grouped by id, in the report's order (worst first).
    let mut order: Vec<&str> = Vec::new();
    let mut groups: HashMap<&str, Vec<usize>> = HashMap::new();
    for (index, vulnerability) in report.vulnerabilities.iter().enumerate() {
        let group = groups.entry(&vulnerability.id).or_default();
        if group.is_empty() {
            order.push(&vulnerability.id);
        }
        group.push(index);
    }
    order
        .into_iter()
        .map(|id| {
            let members: Vec<(&VulnerabilityEntry, Option<&str>)> = groups[id]
                .iter()
                .map(|&i| (&report.vulnerabilities[i], packages[i].map(|p| package_refs[p].as_str())))
                .collect();
            vulnerability(id, &members)
        })
        .collect()
}

fn vulnerability(id: &str, members: &[(&VulnerabilityEntry, Option<&str>)]) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(id));
    out.insert("source".into(), source(id));

    let aliases: BTreeSet<&str> = members.iter().flat_map(|(v, _)| v.aliases.iter().map(String::as_str)).collect();
    if !aliases.is_empty() {
        let references: Vec<Value> = aliases.iter().map(|a| json!({ "id": a, "source": source(a) })).collect();
        out.insert("references".into(), Value::Array(references));
    }

    // One rating per distinct (severity, score), worst first.
    let mut ratings: Vec<(Severity, Option<f64>)> = Vec::new();
    for (v, _) in members {
        if !ratings.iter().any(|(s, score)| *s == v.severity && *score == v.score) {
            ratings.push((v.severity, v.score));
        }
    }
    ratings.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal)));
    let ratings: Vec<Value> = ratings
        .into_iter()
        .map(|(severity, score)| {
            let mut rating = Map::new();
            if let Some(score) = score {
                rating.insert("score".into(), json!(score));
            }
            rating.insert("severity".into(), json!(severity_name(severity).to_ascii_lowercase()));
            Value::Object(rating)
        })
        .collect();
    out.insert("ratings".into(), Value::Array(ratings));

    if let Some(summary) = members.iter().map(|(v, _)| v.summary.trim()).find(|s| !s.is_empty()) {
        out.insert("description".into(), json!(summary));
    }

    // "Upgrade libssl3 to 3.0.13-1; openssl to 3.0.13-1."
    let mut fixes: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (v, _) in members {
        if let Some(fixed) = &v.fixed_version {
            fixes.entry(&v.package).or_default().insert(fixed);
        }
    }
    if !fixes.is_empty() {
        let parts: Vec<String> = fixes
            .iter()
            .map(|(package, versions)| {
                format!("{package} to {}", versions.iter().copied().collect::<Vec<_>>().join(" or "))
            })
            .collect();
        out.insert("recommendation".into(), json!(format!("Upgrade {}.", parts.join("; "))));
    }

    let mut advisories: BTreeSet<&str> = BTreeSet::new();
    for (v, _) in members {
        advisories.extend(v.advisories.iter().map(String::as_str));
    }
    if !advisories.is_empty() {
        let advisories: Vec<Value> = advisories.iter().map(|a| json!({ "title": a, "url": advisory_url(a) })).collect();
        out.insert("advisories".into(), Value::Array(advisories));
    }

    let mut affects: Vec<Value> = Vec::new();
    let mut affected_refs: HashSet<&str> = HashSet::new();
    for (v, bom_ref) in members {
        let Some(bom_ref) = bom_ref else { continue };
        if !affected_refs.insert(bom_ref) {
            continue;
        }
        let mut versions = vec![json!({ "version": v.installed_version, "status": "affected" })];
        if let Some(fixed) = &v.fixed_version {
            versions.push(json!({ "version": fixed, "status": "unaffected" }));
        }
        affects.push(json!({ "ref": bom_ref, "versions": versions }));
    }
    out.insert("affects".into(), Value::Array(affects));

    let mut properties = Vec::new();
    let ecosystems: BTreeSet<&str> =
        members.iter().map(|(v, _)| v.ecosystem.as_str()).filter(|e| !e.is_empty()).collect();
    properties.extend(ecosystems.into_iter().map(|e| property("vulnerability:ecosystem", e)));
    if !properties.is_empty() {
        out.insert("properties".into(), Value::Array(properties));
    }
    Value::Object(out)
}

/// Who describes a vulnerability id: NVD for CVEs, GitHub for GHSAs, the distribution for its
/// own advisories, osv.dev for the rest.
fn source(id: &str) -> Value {
    let prefix = id.split('-').next().unwrap_or("");
    let name = match prefix {
        "CVE" => "NVD",
        "GHSA" => "GitHub",
        "DSA" | "DLA" | "DTSA" | "DEBIAN" => "Debian",
        "USN" | "UBUNTU" => "Ubuntu",
        "ALPINE" => "Alpine",
        "RHSA" | "RHBA" | "RHEA" => "Red Hat",
        "ALSA" | "ALBA" | "ALEA" => "AlmaLinux",
        "RLSA" => "Rocky Linux",
        "SUSE" | "openSUSE" => "SUSE",
        _ => "OSV",
    };
    json!({ "name": name, "url": advisory_url(id) })
}

fn property(name: &str, value: &str) -> Value {
    json!({ "name": format!("{NS}:{name}"), "value": value })
}

/// A version 4 UUID from the OS's randomness (the standard library's hasher keys are seeded
/// from it), mixed with the time, the process id and the image: unique per document.
fn random_uuid(report: &Report, now: OffsetDateTime) -> String {
    let mut hasher = Sha256::new();
    for _ in 0..2 {
        let mut random = std::collections::hash_map::RandomState::new().build_hasher();
        random.write_u128(now.unix_timestamp_nanos() as u128);
        hasher.update(random.finish().to_le_bytes());
    }
    hasher.update(now.unix_timestamp_nanos().to_le_bytes());
    hasher.update(std::process::id().to_le_bytes());
    hasher.update(report.image.digest.as_deref().unwrap_or(&report.target).as_bytes());
    let mut bytes: [u8; 16] = hasher.finalize()[..16].try_into().expect("16 bytes");
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licenses_validate_as_cyclonedx() {
        assert_eq!(licenses(&[]), None);
        assert_eq!(licenses(&["mit".into()]), Some(json!([{ "license": { "id": "MIT" } }])));
        assert_eq!(licenses(&["(MIT OR Apache-2.0)".into()]), Some(json!([{ "expression": "(MIT OR Apache-2.0)" }])));
        assert_eq!(
            licenses(&["GPL-2+".into(), "MIT".into(), "GPL-2+".into()]),
            Some(json!([{ "license": { "name": "GPL-2+" } }, { "license": { "id": "MIT" } }]))
        );
        // An expression among others cannot be mixed with license entries: all become names.
        assert_eq!(
            licenses(&["MIT OR ISC".into(), "Zlib".into()]),
            Some(json!([{ "license": { "name": "MIT OR ISC" } }, { "license": { "id": "Zlib" } }]))
        );
        assert!(!is_spdx_expression("public domain or whatever, see COPYING"));
        assert!(!is_spdx_expression("(MIT OR"));
    }

    #[test]
    fn uuids_are_version_4_and_unique() {
        let report = Report::new("t");
        let now = OffsetDateTime::now_utc();
        let a = random_uuid(&report, now);
        let b = random_uuid(&report, now);
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
    }

    #[test]
    fn repeated_purls_get_unique_refs() {
        let package = |path: &str| PackageEntry {
            name: "a".into(),
            version: "1".into(),
            ecosystem: "deb".into(),
            source_name: None,
            source_version: None,
            arch: None,
            licenses: vec![],
            purl: Some("pkg:deb/debian/a@1".into()),
            path: path.into(),
            layer: None,
            plugin: "dpkg".into(),
            properties: BTreeMap::new(),
        };
        let refs = package_refs(&[package("x"), package("y"), package("y")]);
        assert_eq!(refs, ["pkg:deb/debian/a@1|x", "pkg:deb/debian/a@1|y", "pkg:deb/debian/a@1|y|2"]);
        assert_eq!(package_refs(&[package("x")]), ["pkg:deb/debian/a@1"]);
    }
}
