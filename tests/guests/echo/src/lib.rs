//! Test guest: a well-behaved analyzer that echoes what it was given, so tests can check which
//! files the host routed to it and that its findings survive other plugins failing.
//!
//! One package per file (name = path, version = content length, properties = layer, mode and
//! size in the image), plus one distro built from the image info (id = os, version-id =
//! architecture).

use ecr_plugin_kit::{Analyzer, Distro, File, Findings, ImageInfo, Package};

struct Echo;

impl Analyzer for Echo {
    const NAME: &'static str = "echo";
    const VERSION: &'static str = "2.3.4";
    const DESCRIPTION: &'static str = "returns one package per file it receives";

    fn patterns() -> Vec<String> {
        vec!["etc/os-release".to_string(), "usr/lib/echo/*.conf".to_string(), "**/echo.txt".to_string()]
    }

    fn analyze(image: &ImageInfo, files: &[File]) -> Result<Findings, String> {
        let mut findings = Findings::new();
        for file in files {
            let mut package = Package::new("echo", file.path.clone(), file.content.len().to_string(), &file.path);
            package.properties = vec![
                ("layer".into(), file.layer.clone()),
                ("mode".into(), format!("{:o}", file.mode)),
                ("size".into(), file.size.to_string()),
            ];
            findings.package(package);
        }
        findings.distro(Some(&Distro {
            id: image.os.clone(),
            version_id: image.architecture.clone(),
            pretty_name: Some(format!("config of {} bytes", image.config_json.len())),
            path: String::new(),
        }));
        Ok(findings)
    }
}

ecr_plugin_kit::export!(Echo);
