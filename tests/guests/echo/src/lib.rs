//! Test guest: a well-behaved analyzer that echoes what it was given, so tests can check which
//! files the host routed to it and that its findings survive other plugins failing.
//!
//! One package per file (name = path, version = content length, properties = layer and mode),
//! plus one distro built from the image info (id = os, version-id = architecture).

use ecr_plugin_kit::{Distro, File, Finding, Guest, ImageInfo, Package, PluginInfo};

struct Echo;

impl Guest for Echo {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "echo".into(),
            version: "2.3.4".into(),
            description: "returns one package per file it receives".into(),
            patterns: vec!["etc/os-release".into(), "usr/lib/echo/*.conf".into(), "**/echo.txt".into()],
        }
    }

    fn analyze(image: ImageInfo, files: Vec<File>) -> Result<Vec<Finding>, String> {
        let mut findings: Vec<Finding> = files
            .into_iter()
            .map(|file| {
                Finding::Package(Package {
                    version: file.content.len().to_string(),
                    ecosystem: "echo".into(),
                    source_name: None,
                    source_version: None,
                    arch: None,
                    licenses: vec![],
                    purl: None,
                    installed_files: vec![],
                    properties: vec![("layer".into(), file.layer), ("mode".into(), format!("{:o}", file.mode))],
                    name: file.path.clone(),
                    path: file.path,
                })
            })
            .collect();
        findings.push(Finding::Distro(Distro {
            id: image.os,
            version_id: image.architecture,
            pretty_name: Some(format!("config of {} bytes", image.config_json.len())),
            path: String::new(),
        }));
        Ok(findings)
    }
}

ecr_plugin_kit::export!(Echo);
