//! Test guest: a well-behaved analyzer built against the frozen contract 1.0.0
//! (`wit/1.0.0/plugin.wit`, before `file.size` existed), so it exports
//! `ecr-engine:plugin/analyzer@1.0.0`. A 1.1 host must load it and convert its findings.
//!
//! One package per file (name = path, version = content length, properties = layer), one issue
//! (severity high, about the first file) and one distro, to exercise every finding type.

wit_bindgen::generate!({
    world: "plugin",
    path: "../../../wit/1.0.0",
});

use ecr_engine::plugin::types::{Distro, File, Finding, ImageInfo, Issue, Package, PluginInfo, Severity};
use exports::ecr_engine::plugin::analyzer::Guest;

struct Legacy;

impl Guest for Legacy {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "legacy".into(),
            version: "1.0.0".into(),
            description: "built for contract 1.0.0".into(),
            patterns: vec!["etc/os-release".into(), "**/echo.txt".into()],
        }
    }

    fn analyze(image: ImageInfo, files: Vec<File>) -> Result<Vec<Finding>, String> {
        let mut findings = Vec::new();
        if let Some(first) = files.first() {
            findings.push(Finding::Issue(Issue {
                id: "LEGACY-001".into(),
                severity: Severity::High,
                title: "first file".into(),
                description: format!("{} files", files.len()),
                remediation: Some("none needed".into()),
                path: Some(first.path.clone()),
                history_index: Some(7),
            }));
        }
        for file in files {
            findings.push(Finding::Package(Package {
                name: file.path.clone(),
                version: file.content.len().to_string(),
                ecosystem: "legacy".into(),
                source_name: None,
                source_version: None,
                arch: None,
                licenses: vec!["MIT".into()],
                purl: None,
                path: file.path,
                installed_files: vec![],
                properties: vec![("layer".into(), file.layer)],
            }));
        }
        findings.push(Finding::Distro(Distro {
            id: image.os,
            version_id: image.architecture,
            pretty_name: None,
            path: String::new(),
        }));
        Ok(findings)
    }
}

export!(Legacy);
