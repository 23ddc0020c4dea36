//! The plugin contract as the host sees it: bindings generated from `wit/` for every contract
//! version this host runs, the version check done before instantiating, and the conversion of
//! what a plugin returns into model types.
//!
//! The current version's bindings are the host's working types; a plugin built for an older
//! 1.x minor version runs through that version's own bindings, and its results are converted
//! to the current types ([`PluginPre`]), so a contract can grow without breaking plugins.

use super::sandbox::Sandbox;
use crate::model;
use std::collections::BTreeMap;
use std::fmt;
use wasmtime::component::{Component, InstancePre};
use wasmtime::{Engine, Store};

/// Contract 1.1.0 (`wit/plugin.wit`), the current one.
mod v1_1 {
    wasmtime::component::bindgen!({
        world: "plugin",
        path: "wit",
        // `analyze` parameters borrow the host's file contents instead of copying them: they
        // are written straight into the guest's memory.
        ownership: Borrowing { duplicate_if_necessary: true },
    });
}

/// Contract 1.0.0 (`wit/1.0.0/plugin.wit`, frozen): 1.1 without `file.size`.
mod v1_0 {
    wasmtime::component::bindgen!({
        world: "plugin",
        path: "wit/1.0.0",
        ownership: Borrowing { duplicate_if_necessary: true },
    });
}

pub(super) use current::{Finding, PluginInfo};
use current::{Package, Severity};
use v1_1::ecr_engine::plugin::types as current;

/// The contract version this host was built against (the package version in `wit/`).
pub(super) const HOST_CONTRACT: Version = Version { major: 1, minor: 1, patch: 0 };

/// One file handed to a plugin, borrowed from the host's view of the image.
pub(super) struct FileView<'a> {
    pub path: &'a str,
    pub mode: u32,
    pub layer: &'a str,
    /// The file's size in the image; `content` may be shorter (cut at the plugin's limit).
    pub size: u64,
    pub content: &'a [u8],
}

/// A compiled plugin with its imports resolved, bound through the bindings of the contract
/// version it was built for.
pub(super) enum PluginPre {
    V1_0(v1_0::PluginPre<Sandbox>),
    V1_1(v1_1::PluginPre<Sandbox>),
}

/// Instantiates a plugin through the bindings of contract `$version` and calls `analyze` with
/// the image and the files as that version's types; the file fields it has are listed.
macro_rules! call_analyze {
    ($version:ident, $pre:expr, $store:expr, $image:expr, $files:expr, File { $($field:ident),* }) => {{
        use $version::ecr_engine::plugin::types;
        let image = types::ImageInfo {
            config_json: &$image.config_json,
            os: &$image.os,
            architecture: &$image.architecture,
        };
        let files: Vec<types::File<'_>> = $files.iter().map(|file| types::File { $($field: file.$field),* }).collect();
        $pre.instantiate(&mut *$store)?.ecr_engine_plugin_analyzer().call_analyze($store, image, &files)
    }};
}

impl PluginPre {
    /// `version` is what [`check_exports`] accepted, so its major version is this host's.
    pub(super) fn new(version: Version, pre: InstancePre<Sandbox>) -> wasmtime::Result<PluginPre> {
        Ok(match version.minor {
            0 => PluginPre::V1_0(v1_0::PluginPre::new(pre)?),
            _ => PluginPre::V1_1(v1_1::PluginPre::new(pre)?),
        })
    }

    /// Whether the plugin can be told that a file's content was cut (1.1 and later).
    pub(super) fn sees_file_sizes(&self) -> bool {
        !matches!(self, PluginPre::V1_0(_))
    }

    pub(super) fn describe(&self, store: &mut Store<Sandbox>) -> wasmtime::Result<PluginInfo> {
        match self {
            PluginPre::V1_0(pre) => {
                Ok(pre.instantiate(&mut *store)?.ecr_engine_plugin_analyzer().call_describe(store)?.into())
            }
            PluginPre::V1_1(pre) => pre.instantiate(&mut *store)?.ecr_engine_plugin_analyzer().call_describe(store),
        }
    }

    pub(super) fn analyze(
        &self,
        store: &mut Store<Sandbox>,
        image: &model::ImageInfo,
        files: &[FileView<'_>],
    ) -> wasmtime::Result<Result<Vec<Finding>, String>> {
        match self {
            PluginPre::V1_0(pre) => {
                let result = call_analyze!(v1_0, pre, store, image, files, File { path, mode, layer, content })?;
                Ok(result.map(|findings| findings.into_iter().map(Finding::from).collect()))
            }
            PluginPre::V1_1(pre) => {
                call_analyze!(v1_1, pre, store, image, files, File { path, mode, layer, size, content })
            }
        }
    }
}

/// `From<old::T> for current::T` for a record or variant that did not change between the
/// versions, its fields or cases listed once. The compiler checks the lists: a record's must be
/// all the current record's fields, a variant's all the old variant's cases.
macro_rules! same_shape {
    (record $name:ident { $($field:ident),* $(,)? }) => {
        impl From<old::$name> for current::$name {
            fn from(value: old::$name) -> Self {
                current::$name { $($field: value.$field.into()),* }
            }
        }
    };
    (variant $name:ident { $($case:ident $(($payload:ident))?),* $(,)? }) => {
        impl From<old::$name> for current::$name {
            fn from(value: old::$name) -> Self {
                match value {
                    $(old::$name::$case $(($payload))? => current::$name::$case $(($payload.into()))?,)*
                }
            }
        }
    };
}

mod from_v1_0 {
    use super::current;
    use super::v1_0::ecr_engine::plugin::types as old;

    same_shape!(record PluginInfo { name, version, description, patterns });
    same_shape!(record Package {
        name, version, ecosystem, source_name, source_version, arch, licenses, purl, path, installed_files, properties
    });
    same_shape!(record Distro { id, version_id, pretty_name, path });
    same_shape!(record Issue { id, severity, title, description, remediation, path, history_index });
    same_shape!(record FileError { path, message });
    same_shape!(variant Severity { Unknown, Low, Medium, High, Critical });
    same_shape!(variant Finding { Package(package), Distro(distro), Issue(issue), FileError(error) });
}

/// Exported interface name of an analyzer, before the `@version`.
const ANALYZER_INTERFACE: &str = "ecr-engine:plugin/analyzer";

/// Longest string kept from a plugin's output; longer ones are cut (on a char boundary).
const MAX_STRING_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Version {
    major: u64,
    minor: u64,
    patch: u64,
}

impl Version {
    /// `MAJOR.MINOR.PATCH`, ignoring any `-pre` / `+build` suffix.
    fn parse(text: &str) -> Option<Version> {
        let core = text.split(['-', '+']).next()?;
        let mut parts = core.split('.').map(|part| part.parse::<u64>().ok());
        let version = Version { major: parts.next()??, minor: parts.next()??, patch: parts.next()?? };
        parts.next().is_none().then_some(version)
    }

    /// Whether a host speaking `self` can run a plugin built for `plugin`, by semver: the same
    /// major version; below 1.0 the minor version is the breaking one (and below 0.1 the patch).
    /// From 1.0 on a minor version only adds, so a host keeps loading plugins built for older
    /// minors (but not newer ones, which may use what this host does not know).
    pub(super) fn can_run(self, plugin: Version) -> bool {
        match (self.major, self.minor) {
            _ if self.major != plugin.major => false,
            (0, 0) => plugin.minor == 0 && plugin.patch == self.patch,
            (0, _) => plugin.minor == self.minor,
            _ => plugin.minor <= self.minor,
        }
    }

    /// The range of plugin versions this host accepts, for messages: "0.1.x", "1.x (up to 1.1.x)".
    fn accepted(self) -> String {
        match (self.major, self.minor) {
            (0, 0) => self.to_string(),
            (0, minor) => format!("0.{minor}.x"),
            (major, _) => format!("{major}.x (up to {major}.{}.x)", self.minor),
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Why a component cannot be used as an analyzer, found from its type alone.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ContractError {
    /// It is an analyzer, for a contract version this host cannot run.
    Incompatible(String),
    /// It is not an analyzer at all.
    NotAnAnalyzer(String),
}

/// Reads the analyzer interface a component exports (from its type, without instantiating it)
/// and checks the contract version in its name. Returns the version on success.
pub(super) fn check_exports(engine: &Engine, component: &Component) -> Result<Version, ContractError> {
    let ty = component.component_type();
    let names: Vec<&str> = ty.exports(engine).map(|(name, _)| name).collect();
    check_export_names(&names)
}

fn check_export_names(names: &[&str]) -> Result<Version, ContractError> {
    let analyzers: Vec<&str> = names
        .iter()
        .copied()
        .filter(|name| {
            name.strip_prefix(ANALYZER_INTERFACE).is_some_and(|rest| rest.is_empty() || rest.starts_with('@'))
        })
        .collect();
    if analyzers.is_empty() {
        let listed = if names.is_empty() { "nothing".to_owned() } else { names.join(", ") };
        return Err(ContractError::NotAnAnalyzer(format!(
            "the component does not export `{ANALYZER_INTERFACE}` (it exports {listed}), so it \
             is not an ecr-engine analyzer plugin; build it against the `plugin` world in wit/"
        )));
    }
    // A component may export the analyzer for several contract versions: any one this host can
    // run will do; otherwise the first one explains the refusal.
    let mut refusal = None;
    for name in analyzers {
        match analyzer_version(name) {
            Ok(version) => return Ok(version),
            Err(message) => {
                refusal.get_or_insert(message);
            }
        }
    }
    Err(ContractError::Incompatible(refusal.unwrap_or_default()))
}

/// The version of one exported analyzer interface if this host can run it, else why not.
fn analyzer_version(name: &str) -> Result<Version, String> {
    let rebuild = "rebuild the plugin against wit/ of this release";
    let host = HOST_CONTRACT.accepted();
    let Some(version_text) = name.strip_prefix(ANALYZER_INTERFACE).and_then(|rest| rest.strip_prefix('@')) else {
        return Err(format!("exports `{name}` without a contract version, this host speaks {host}; {rebuild}"));
    };
    match Version::parse(version_text) {
        Some(version) if HOST_CONTRACT.can_run(version) => Ok(version),
        Some(version) => Err(format!("built for contract {version}, this host speaks {host}; {rebuild}")),
        None => {
            Err(format!("exports `{name}`, whose version is not MAJOR.MINOR.PATCH; this host speaks {host}; {rebuild}"))
        }
    }
}

/// Cuts a string a plugin returned to [`MAX_STRING_BYTES`].
pub(super) fn bounded(mut text: String) -> String {
    if text.len() > MAX_STRING_BYTES {
        let mut end = MAX_STRING_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("...");
    }
    text
}

fn bounded_opt(text: Option<String>) -> Option<String> {
    text.map(bounded)
}

fn bounded_all(texts: Vec<String>) -> Vec<String> {
    texts.into_iter().map(bounded).collect()
}

impl From<Severity> for model::Severity {
    fn from(severity: Severity) -> Self {
        match severity {
            Severity::Unknown => model::Severity::Unknown,
            Severity::Low => model::Severity::Low,
            Severity::Medium => model::Severity::Medium,
            Severity::High => model::Severity::High,
            Severity::Critical => model::Severity::Critical,
        }
    }
}

impl From<Package> for model::Package {
    fn from(package: Package) -> Self {
        model::Package {
            name: bounded(package.name),
            version: bounded(package.version),
            ecosystem: bounded(package.ecosystem),
            source_name: bounded_opt(package.source_name),
            source_version: bounded_opt(package.source_version),
            arch: bounded_opt(package.arch),
            licenses: bounded_all(package.licenses),
            purl: bounded_opt(package.purl),
            path: bounded(package.path),
            installed_files: bounded_all(package.installed_files),
            properties: package
                .properties
                .into_iter()
                .map(|(key, value)| (bounded(key), bounded(value)))
                .collect::<BTreeMap<_, _>>(),
        }
    }
}

impl From<Finding> for model::Finding {
    fn from(finding: Finding) -> Self {
        match finding {
            Finding::Package(package) => model::Finding::Package(package.into()),
            Finding::Distro(distro) => model::Finding::Distro(model::Distro {
                id: bounded(distro.id),
                version_id: bounded(distro.version_id),
                pretty_name: bounded_opt(distro.pretty_name),
                path: bounded(distro.path),
            }),
            Finding::Issue(issue) => model::Finding::Issue(model::Issue {
                id: bounded(issue.id),
                severity: issue.severity.into(),
                title: bounded(issue.title),
                description: bounded(issue.description),
                remediation: bounded_opt(issue.remediation),
                path: bounded_opt(issue.path),
                history_index: issue.history_index,
            }),
            Finding::FileError(error) => model::Finding::FileError(model::FileError {
                path: bounded(error.path),
                message: bounded(error.message),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    #[test]
    fn parses_semver_core_and_ignores_suffixes() {
        assert_eq!(v("0.1.0"), Version { major: 0, minor: 1, patch: 0 });
        assert_eq!(v("1.22.333-rc.1+build5"), Version { major: 1, minor: 22, patch: 333 });
        for bad in ["", "1", "1.2", "1.2.3.4", "a.b.c", "1..3", "-1.0.0"] {
            assert_eq!(Version::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn zero_major_breaks_on_minor() {
        let host = v("0.1.0");
        assert!(host.can_run(v("0.1.0")));
        assert!(host.can_run(v("0.1.7")));
        assert!(!host.can_run(v("0.2.0")));
        assert!(!host.can_run(v("0.0.9")));
        assert!(!host.can_run(v("1.1.0")));
        assert!(v("0.3.2").can_run(v("0.3.0")));
    }

    #[test]
    fn zero_zero_breaks_on_patch() {
        assert!(v("0.0.3").can_run(v("0.0.3")));
        assert!(!v("0.0.3").can_run(v("0.0.4")));
    }

    #[test]
    fn stable_major_accepts_older_minors_only() {
        let host = v("2.3.0");
        assert!(host.can_run(v("2.0.0")));
        assert!(host.can_run(v("2.3.9")));
        assert!(!host.can_run(v("2.4.0")));
        assert!(!host.can_run(v("1.3.0")));
        assert!(!host.can_run(v("3.0.0")));
    }

    #[test]
    fn host_contract_matches_the_wit_packages() {
        let wit = include_str!("../../wit/plugin.wit");
        assert!(
            wit.contains(&format!("package ecr-engine:plugin@{HOST_CONTRACT};")),
            "HOST_CONTRACT ({HOST_CONTRACT}) differs from the package version in wit/plugin.wit"
        );
        // The previous minor's frozen copy exists and this host runs it.
        let old = include_str!("../../wit/1.0.0/plugin.wit");
        assert!(old.contains("package ecr-engine:plugin@1.0.0;"));
        assert!(HOST_CONTRACT.can_run(v("1.0.0")));
    }

    #[test]
    fn export_names_decide_compatibility() {
        let ok = check_export_names(&["wasi:cli/run@0.2.0", "ecr-engine:plugin/analyzer@1.0.3"]);
        assert_eq!(ok, Ok(v("1.0.3")));
        assert_eq!(check_export_names(&["ecr-engine:plugin/analyzer@1.1.0"]), Ok(v("1.1.0")));

        let Err(ContractError::Incompatible(message)) = check_export_names(&["ecr-engine:plugin/analyzer@0.2.0"])
        else {
            panic!("0.2.0 must be incompatible");
        };
        assert!(message.contains("built for contract 0.2.0"), "{message}");
        assert!(message.contains("this host speaks 1.x (up to 1.1.x)"), "{message}");
        for refused in ["2.0.0", "1.2.0", "0.1.0"] {
            let Err(ContractError::Incompatible(message)) =
                check_export_names(&[&format!("ecr-engine:plugin/analyzer@{refused}")])
            else {
                panic!("{refused} must be incompatible");
            };
            assert!(message.contains(&format!("built for contract {refused}, this host speaks 1.x")), "{message}");
        }
        assert!(message.contains("rebuild the plugin against wit/"), "{message}");

        assert!(matches!(check_export_names(&["ecr-engine:plugin/analyzer"]), Err(ContractError::Incompatible(_))));
        assert!(matches!(
            check_export_names(&["ecr-engine:plugin/analyzer@next"]),
            Err(ContractError::Incompatible(_))
        ));

        // Several versions exported: the one this host runs is chosen, wherever it is listed.
        let both = check_export_names(&["ecr-engine:plugin/analyzer@2.0.0", "ecr-engine:plugin/analyzer@1.0.1"]);
        assert_eq!(both, Ok(v("1.0.1")));

        let Err(ContractError::NotAnAnalyzer(message)) =
            check_export_names(&["ecr-engine:plugin/analyzer-extra@1.1.0", "wasi:cli/run@0.2.0"])
        else {
            panic!("a component without the analyzer export is not an analyzer");
        };
        assert!(message.contains("wasi:cli/run@0.2.0"), "{message}");
        assert!(matches!(check_export_names(&[]), Err(ContractError::NotAnAnalyzer(_))));
    }

    #[test]
    fn long_strings_are_cut_on_char_boundaries() {
        let long = "é".repeat(MAX_STRING_BYTES);
        let cut = bounded(long);
        assert!(cut.len() <= MAX_STRING_BYTES + 3);
        assert!(cut.ends_with("..."));
        assert_eq!(bounded("short".into()), "short");
    }
}
