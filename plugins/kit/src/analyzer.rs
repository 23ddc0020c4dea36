//! The one way to write an analyzer: implement [`Analyzer`] and call [`export!`](crate::export).
//! The kit turns it into the component's `describe`/`analyze` exports.

use crate::{Distro, File, FileError, Finding, ImageInfo, Issue, Package, PluginInfo, Severity};
use std::marker::PhantomData;
use std::ops::Deref;

/// An analyzer: who it is, which image paths it needs, and what it finds in them.
///
/// `analyze` is plain Rust over borrowed data, so a plugin's tests call it natively.
pub trait Analyzer {
    /// Short unique name (1 to 64 of `A-Z a-z 0-9 - _ .`). A plugin in the plugins directory
    /// with the name of a built-in one replaces it.
    const NAME: &'static str;
    /// The plugin's own version; normally `env!("CARGO_PKG_VERSION")`.
    const VERSION: &'static str;
    /// One line saying what it reads and reports.
    const DESCRIPTION: &'static str;

    /// Globs over image paths relative to the root (no leading `/`): `*` stays within one path
    /// component, `**` crosses them. Only files matching one of them reach [`Analyzer::analyze`].
    fn patterns() -> Vec<String>;

    /// Findings for one image. `files` are the files matching [`Analyzer::patterns`] (the merged
    /// view, whiteouts applied). Return `Err` only when nothing could be done at all: a file that
    /// cannot be read is a [`Findings::file_error`], so the rest is kept.
    fn analyze(image: &ImageInfo, files: &[File]) -> Result<Findings, String>;
}

/// The exported component for analyzer `T` (what [`export!`](crate::export) names).
#[doc(hidden)]
pub struct Export<T>(PhantomData<T>);

impl<T: Analyzer> crate::Guest for Export<T> {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: T::NAME.to_string(),
            version: T::VERSION.to_string(),
            description: T::DESCRIPTION.to_string(),
            patterns: T::patterns(),
        }
    }

    fn analyze(image: ImageInfo, files: Vec<File>) -> Result<Vec<Finding>, String> {
        T::analyze(&image, &files).map(Findings::into_vec)
    }
}

/// The findings of one call, in the order they were added.
#[derive(Debug, Default)]
pub struct Findings(Vec<Finding>);

impl Findings {
    pub fn new() -> Findings {
        Findings::default()
    }

    /// The OS release, when one was detected.
    pub fn distro(&mut self, distro: Option<&Distro>) {
        self.0.extend(distro.cloned().map(Finding::Distro));
    }

    pub fn package(&mut self, package: Package) {
        self.0.push(Finding::Package(package));
    }

    pub fn issue(&mut self, issue: Issue) {
        self.0.push(Finding::Issue(issue));
    }

    /// `path` could not be (completely) read: the host marks the results incomplete and names it.
    pub fn file_error(&mut self, path: &str, message: impl Into<String>) {
        self.0.push(Finding::FileError(FileError { path: path.to_string(), message: message.into() }));
    }

    /// What one database file gave: its packages, then one file error per problem met in it.
    pub fn from_file(
        &mut self,
        path: &str,
        packages: impl IntoIterator<Item = Package>,
        problems: impl IntoIterator<Item = String>,
    ) {
        self.0.extend(packages.into_iter().map(Finding::Package));
        for message in problems {
            self.file_error(path, message);
        }
    }

    pub fn extend(&mut self, findings: impl IntoIterator<Item = Finding>) {
        self.0.extend(findings);
    }

    pub fn into_vec(self) -> Vec<Finding> {
        self.0
    }
}

impl Deref for Findings {
    type Target = [Finding];

    fn deref(&self) -> &[Finding] {
        &self.0
    }
}

impl Issue {
    /// An issue with no remediation, file or build step yet (see the `with_*` methods).
    pub fn new(id: &str, severity: Severity, title: impl Into<String>, description: impl Into<String>) -> Issue {
        Issue {
            id: id.to_string(),
            severity,
            title: title.into(),
            description: description.into(),
            remediation: None,
            path: None,
            history_index: None,
        }
    }

    pub fn with_remediation(mut self, remediation: impl Into<String>) -> Issue {
        self.remediation = Some(remediation.into());
        self
    }

    /// The file the issue is about.
    pub fn with_path(mut self, path: &str) -> Issue {
        self.path = Some(path.to_string());
        self
    }
}

impl Package {
    /// A package of `ecosystem` found in `path`, with every optional field empty.
    pub fn new(ecosystem: &str, name: impl Into<String>, version: impl Into<String>, path: &str) -> Package {
        Package {
            name: name.into(),
            version: version.into(),
            ecosystem: ecosystem.to_string(),
            source_name: None,
            source_version: None,
            arch: None,
            licenses: Vec::new(),
            purl: None,
            path: path.to_string(),
            installed_files: Vec::new(),
            properties: Vec::new(),
        }
    }

    /// The value of property `key`, if set.
    pub fn property(&self, key: &str) -> Option<&str> {
        self.properties.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}
