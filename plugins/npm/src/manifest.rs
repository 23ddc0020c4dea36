//! An installed package's `package.json`: name, version and licenses.
//!
//! Only the fields read here are deserialized; everything else (scripts, readme, nested config of
//! any depth) is skipped without being built, so memory stays small whatever the file holds.
//! serde_json bounds the nesting depth of the fields that are built (128 levels), so no input can
//! overflow the stack.

use ecr_plugin_kit::fields;
use serde::Deserialize;
use serde::de::IgnoredAny;

/// A package manifest larger than this is refused unparsed. Real ones are a few KB; the largest
/// seen in the wild (old npm embedded the README in installed copies) are a few hundred KB.
pub const MAX_MANIFEST_BYTES: usize = 2 * 1024 * 1024;

/// Longest name or version accepted (npm's own name limit is 214 characters).
pub const MAX_FIELD_CHARS: usize = 512;

/// The `license` / `licenses` forms npm packages use: an SPDX expression string, the legacy
/// `{ "type": "MIT", "url": "..." }` object, or a list of either.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum LicenseField {
    Text(String),
    Object(LicenseObject),
    List(Vec<LicenseItem>),
    Other(IgnoredAny),
}

#[derive(Deserialize)]
#[serde(untagged)]
pub enum LicenseItem {
    Text(String),
    Object(LicenseObject),
    Other(IgnoredAny),
}

#[derive(Deserialize)]
pub struct LicenseObject {
    #[serde(rename = "type")]
    kind: Option<IgnoredOr<String>>,
}

/// A value of the wanted type, or anything else (ignored): license data is advisory, a wrong
/// type there must not cost the package.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum IgnoredOr<T> {
    Value(T),
    Other(IgnoredAny),
}

fn push_license(out: &mut Vec<String>, s: &str) {
    let s = s.trim();
    if !s.is_empty() && !out.iter().any(|l| l == s) {
        out.push(s.chars().take(MAX_FIELD_CHARS).collect());
    }
}

impl LicenseObject {
    fn push(&self, out: &mut Vec<String>) {
        if let Some(IgnoredOr::Value(s)) = &self.kind {
            push_license(out, s);
        }
    }
}

impl LicenseField {
    /// The license strings, in file order, without empties and duplicates.
    pub fn to_list(&self) -> Vec<String> {
        let mut out = Vec::new();
        match self {
            LicenseField::Text(s) => push_license(&mut out, s),
            LicenseField::Object(o) => o.push(&mut out),
            LicenseField::List(items) => {
                for item in items {
                    match item {
                        LicenseItem::Text(s) => push_license(&mut out, s),
                        LicenseItem::Object(o) => o.push(&mut out),
                        LicenseItem::Other(_) => {}
                    }
                }
            }
            LicenseField::Other(_) => {}
        }
        out
    }
}

/// `license` wins; the legacy `licenses` array is read only when `license` gives nothing.
pub fn licenses(license: Option<&LicenseField>, legacy: Option<&LicenseField>) -> Vec<String> {
    let primary = license.map(LicenseField::to_list).unwrap_or_default();
    if primary.is_empty() { legacy.map(LicenseField::to_list).unwrap_or_default() } else { primary }
}

#[derive(Deserialize)]
struct Raw {
    name: Option<String>,
    version: Option<String>,
    license: Option<LicenseField>,
    licenses: Option<LicenseField>,
}

/// What an installed package.json says about the package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    pub licenses: Vec<String>,
}

/// A name or version fit for a report: non-empty, bounded, no whitespace or control characters.
pub fn check_field(what: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("\"{what}\" is empty"));
    }
    if value.chars().count() > MAX_FIELD_CHARS {
        return Err(format!("\"{what}\" is longer than {MAX_FIELD_CHARS} characters"));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("\"{what}\" {} contains whitespace or control characters", shown(value)));
    }
    Ok(())
}

/// A value quoted in a message: control characters replaced, cut to a sensible length.
pub fn shown(s: &str) -> String {
    const MAX: usize = 80;
    let mut out: String = s.chars().take(MAX).map(|c| if c.is_control() { '?' } else { c }).collect();
    if s.chars().nth(MAX).is_some() {
        out.push_str("...");
    }
    format!("{out:?}")
}

/// Parses an installed package.json. The error says what is wrong and where.
pub fn parse(content: &[u8]) -> Result<Manifest, String> {
    if content.len() > MAX_MANIFEST_BYTES {
        return Err(format!(
            "package.json is {} bytes, over the {} MiB limit for a package manifest; not parsed",
            content.len(),
            MAX_MANIFEST_BYTES >> 20
        ));
    }
    let raw: Raw = fields::json(content, "package.json")?;
    let name = raw.name.ok_or("package.json has no \"name\"; skipped")?;
    let version = raw.version.ok_or("package.json has no \"version\"; skipped")?;
    let (name, version) = (name.trim().to_string(), version.trim().to_string());
    check_field("name", &name)?;
    check_field("version", &version)?;
    Ok(Manifest { licenses: licenses(raw.license.as_ref(), raw.licenses.as_ref()), name, version })
}
