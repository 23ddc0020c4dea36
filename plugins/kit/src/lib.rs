//! The guest side of the ecr-engine plugin contract.
//!
//! An analyzer implements [`Analyzer`] (its name, the image paths it needs, and `analyze`) and
//! exports itself with [`export!`]; the kit does the WebAssembly glue. Parsing code stays plain
//! Rust so it is unit-tested natively. Helpers: [`fields`] (email-style header files, UTF-8
//! text, JSON), [`os`] (the OS release), [`purl`] (package URLs), [`Findings`], [`Issue::new`],
//! [`Package::new`], [`FileProblems`]. The plugin author's guide is `docs/plugins.md`.

pub mod analyzer;
pub mod fields;
pub mod findings;
pub mod os;
pub mod purl;

pub use analyzer::{Analyzer, Findings};

pub mod bindings {
    wit_bindgen::generate!({
        world: "plugin",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "export_analyzer",
        default_bindings_module: "ecr_plugin_kit::bindings",
    });
}

pub use bindings::ecr_engine::plugin::types::{
    Distro, File, FileError, Finding, ImageInfo, Issue, Package, PluginInfo, Severity,
};
/// The generated export trait; implemented by the kit for every [`Analyzer`].
#[doc(hidden)]
pub use bindings::exports::ecr_engine::plugin::analyzer::Guest;

/// Problems listed for one file before the rest are only counted: a hostile file cannot flood
/// the report.
pub const MAX_ERRORS_PER_FILE: usize = 20;

/// The problems found in one file, capped at [`MAX_ERRORS_PER_FILE`].
#[derive(Debug, Default)]
pub struct FileProblems {
    list: Vec<String>,
    extra: usize,
}

impl FileProblems {
    pub fn push(&mut self, message: String) {
        if self.list.len() < MAX_ERRORS_PER_FILE {
            self.list.push(message);
        } else {
            self.extra += 1;
        }
    }

    /// The listed problems, plus one line counting those that were not listed.
    pub fn finish(mut self) -> Vec<String> {
        if self.extra > 0 {
            self.list.push(format!("{} more problems not listed", self.extra));
        }
        self.list
    }
}

/// `p` without its leading `./` and `/` (any number, in any order): paths from other tools (tar
/// listings, the host) may start with either, while patterns and findings use the bare form.
pub fn relative_path(p: &str) -> &str {
    let mut p = p;
    loop {
        if let Some(r) = p.strip_prefix("./") {
            p = r;
        } else if let Some(r) = p.strip_prefix('/') {
            p = r;
        } else {
            return p;
        }
    }
}

impl File {
    /// A regular file (mode `0o100644`) at `path` with `content`, from no particular layer.
    pub fn new(path: &str, content: impl Into<Vec<u8>>) -> File {
        let content = content.into();
        File { path: path.to_string(), mode: 0o100644, layer: String::new(), size: content.len() as u64, content }
    }

    /// Whether the host cut `content` short (at this plugin's max file size, see `size`).
    pub fn is_truncated(&self) -> bool {
        self.size > self.content.len() as u64
    }

    /// Whether this is a regular file. A mode without file-type bits (0) counts as one: some tar
    /// writers record permission bits only.
    pub fn is_regular(&self) -> bool {
        matches!(self.mode & 0o170000, 0 | 0o100000)
    }
}

/// Exports `$analyzer` (a type implementing [`Analyzer`]) as the component's analyzer. Only in
/// WebAssembly builds: natively a plugin crate is plain Rust whose tests run on the host, and the
/// export's symbol names (`ecr-engine:plugin/analyzer@...#analyze`) do not link there.
#[macro_export]
macro_rules! export {
    ($analyzer:ty) => {
        #[cfg(target_family = "wasm")]
        const _: () = {
            type EcrEngineAnalyzerExport = $crate::analyzer::Export<$analyzer>;
            $crate::bindings::export_analyzer!(EcrEngineAnalyzerExport);
        };
        // Natively the analyzer is still the crate's entry point, not dead code.
        #[cfg(not(target_family = "wasm"))]
        const _: fn() -> Vec<String> = <$analyzer as $crate::Analyzer>::patterns;
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_path_strips_any_mix_of_leading_dot_slash_and_slash() {
        for (p, want) in [("etc/os-release", "etc/os-release"), ("/etc/x", "etc/x"), ("./etc/x", "etc/x")] {
            assert_eq!(relative_path(p), want);
        }
        assert_eq!(relative_path(".//./a/./b"), "a/./b");
        assert_eq!(relative_path("./"), "");
        assert_eq!(relative_path(".npmrc"), ".npmrc");
        assert_eq!(relative_path("../x"), "../x");
    }

    #[test]
    fn file_new_is_a_regular_file() {
        let f = File::new("a", "b");
        assert_eq!((f.path.as_str(), f.mode, f.layer.as_str(), f.content.as_slice()), ("a", 0o100644, "", &b"b"[..]));
        assert!(f.is_regular());
        assert!(!f.is_truncated());
        assert!(File { size: 2, ..File::new("a", "b") }.is_truncated());
        for (mode, regular) in [(0o644, true), (0o120777, false), (0o040755, false), (0o100600, true)] {
            assert_eq!(File { mode, ..File::new("a", "") }.is_regular(), regular, "{mode:o}");
        }
    }
}
