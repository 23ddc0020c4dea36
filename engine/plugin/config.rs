//! The plugins config file (`plugins.toml`): resource limits for all plugins and for particular
//! ones. Unknown keys and values out of range are errors that name the file, the key and the
//! accepted range, so a typo never silently leaves a plugin with limits nobody chose.
//!
//! ```toml
//! [defaults]              # every plugin (the command line's --plugin-* flags override these)
//! memory = "256M"         # linear memory per call: 1M .. 4G
//! cpu-time = 10           # seconds per call: 0.01 .. 3600
//! max-file-size = "128M"  # largest file handed over: 1 .. 4G
//!
//! [plugins.python]        # one plugin, by the name `plugins list` shows; beats everything else
//! cpu-time = 30
//! ```

use super::Limits;
use crate::regular_file::{SETTINGS_FILE_CEILING, read_regular_text};
use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file's name; by default it is read from the plugins directory.
pub const FILE_NAME: &str = "plugins.toml";

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
/// A wasm32 memory cannot grow beyond 4 GiB, so neither a cap nor a file above that means anything.
const MEMORY_RANGE: (u64, u64) = (MIB, 4 * GIB);
const FILE_SIZE_RANGE: (u64, u64) = (1, 4 * GIB);
const CPU_SECONDS_RANGE: (f64, f64) = (0.01, 3600.0);

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    defaults: Section,
    #[serde(default)]
    plugins: BTreeMap<String, Section>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Section {
    memory: Option<Size>,
    cpu_time: Option<f64>,
    max_file_size: Option<Size>,
}

/// A size: a number of bytes, or a string like "512M" / "2G".
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Size {
    Bytes(u64),
    Text(String),
}

/// The limits the config file asks for.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PluginsConfig {
    /// Where it was read from (`None`: no file).
    pub path: Option<PathBuf>,
    defaults: Overrides,
    plugins: BTreeMap<String, Overrides>,
}

/// Checked values of one section.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Overrides {
    pub memory_bytes: Option<u64>,
    pub cpu_time: Option<Duration>,
    pub max_file_bytes: Option<u64>,
}

impl Overrides {
    /// `base` with the values this section sets.
    pub fn apply(&self, base: &Limits) -> Limits {
        Limits {
            memory_bytes: self.memory_bytes.unwrap_or(base.memory_bytes),
            cpu_time: self.cpu_time.unwrap_or(base.cpu_time),
            max_file_bytes: self.max_file_bytes.unwrap_or(base.max_file_bytes),
            max_result_bytes: base.max_result_bytes,
        }
    }
}

impl PluginsConfig {
    /// Reads `path`. With `required` false a missing file is an empty config (the default
    /// location); a file that was named explicitly must exist.
    pub fn load(path: &Path, required: bool) -> Result<PluginsConfig> {
        let text = match read_regular_text(path, SETTINGS_FILE_CEILING, "a plugins config") {
            Ok(text) => text,
            Err(error) if !required && error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(PluginsConfig::default());
            }
            Err(error) => {
                return Err(error).with_context(|| format!("cannot read the plugins config {}", path.display()));
            }
        };
        let mut config = PluginsConfig::parse(&text).with_context(|| format!("plugins config {}", path.display()))?;
        config.path = Some(path.to_owned());
        Ok(config)
    }

    /// Parses and checks the text of a config file.
    pub fn parse(text: &str) -> Result<PluginsConfig> {
        let file: File = toml::from_str(text).map_err(|error| anyhow::anyhow!("{}", error.to_string().trim_end()))?;
        let defaults = check(&file.defaults, "[defaults]")?;
        let mut plugins = BTreeMap::new();
        for (name, section) in &file.plugins {
            plugins.insert(name.clone(), check(section, &format!("[plugins.{name}]"))?);
        }
        Ok(PluginsConfig { path: None, defaults, plugins })
    }

    /// The `[defaults]` section.
    pub fn defaults(&self) -> &Overrides {
        &self.defaults
    }

    /// Each `[plugins.NAME]` section's limits: `base` (the defaults, after the command line)
    /// with what the section sets.
    pub fn plugin_limits(&self, base: &Limits) -> BTreeMap<String, Limits> {
        self.plugins.iter().map(|(name, overrides)| (name.clone(), overrides.apply(base))).collect()
    }

    /// The plugin names the file has a section for.
    pub fn plugin_names(&self) -> impl Iterator<Item = &str> {
        self.plugins.keys().map(String::as_str)
    }
}

fn check(section: &Section, where_: &str) -> Result<Overrides> {
    let size = |value: &Option<Size>, key: &str, (low, high): (u64, u64)| -> Result<Option<u64>> {
        let Some(value) = value else { return Ok(None) };
        let bytes = match value {
            Size::Bytes(bytes) => *bytes,
            Size::Text(text) => {
                crate::cli::parse_size(text).map_err(|error| anyhow::anyhow!("{where_} {key}: {error}"))?
            }
        };
        if !(low..=high).contains(&bytes) {
            bail!(
                "{where_} {key} = {bytes} bytes is out of range: it must be between {} and {}",
                super::human_size(low),
                super::human_size(high)
            );
        }
        Ok(Some(bytes))
    };
    let cpu_time = match section.cpu_time {
        None => None,
        Some(seconds) if (CPU_SECONDS_RANGE.0..=CPU_SECONDS_RANGE.1).contains(&seconds) => {
            Some(Duration::from_secs_f64(seconds))
        }
        Some(seconds) => bail!(
            "{where_} cpu-time = {seconds} is out of range: it is in seconds, between {} and {}",
            CPU_SECONDS_RANGE.0,
            CPU_SECONDS_RANGE.1
        ),
    };
    Ok(Overrides {
        memory_bytes: size(&section.memory, "memory", MEMORY_RANGE)?,
        cpu_time,
        max_file_bytes: size(&section.max_file_size, "max-file-size", FILE_SIZE_RANGE)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_set_limits_and_plugins_beat_defaults() {
        let config = PluginsConfig::parse(
            "[defaults]\nmemory = \"512M\"\n\n[plugins.python]\ncpu-time = 2.5\nmax-file-size = 4096\n",
        )
        .unwrap();
        let base = config.defaults().apply(&Limits::default());
        assert_eq!(base.memory_bytes, 512 * MIB);
        assert_eq!(base.cpu_time, Limits::default().cpu_time);
        let python = &config.plugin_limits(&base)["python"];
        assert_eq!(
            (python.memory_bytes, python.cpu_time, python.max_file_bytes),
            (512 * MIB, Duration::from_millis(2500), 4096)
        );
        assert_eq!(config.plugin_names().collect::<Vec<_>>(), ["python"]);
    }

    #[test]
    fn typos_and_absurd_values_are_clear_errors() {
        let error = |text: &str| format!("{:#}", PluginsConfig::parse(text).unwrap_err());
        let typo = error("[plugins.npm]\nmemroy = \"1G\"\n");
        assert!(typo.contains("unknown field `memroy`") && typo.contains("line 2"), "{typo}");
        let section = error("[default]\nmemory = \"1G\"\n");
        assert!(section.contains("unknown field `default`"), "{section}");
        assert_eq!(
            error("[plugins.npm]\nmemory = \"8G\"\n"),
            "[plugins.npm] memory = 8589934592 bytes is out of range: it must be between 1.0 MiB and 4.0 GiB"
        );
        assert_eq!(
            error("[defaults]\ncpu-time = 0\n"),
            "[defaults] cpu-time = 0 is out of range: it is in seconds, between 0.01 and 3600"
        );
        assert!(error("[defaults]\nmax-file-size = \"12X\"\n").starts_with("[defaults] max-file-size: '12X'"));
        assert!(error("[defaults]\ncpu-time = \"10s\"\n").contains("invalid type"));
    }

    #[test]
    fn a_missing_default_file_is_empty_but_a_named_one_is_required() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join(FILE_NAME);
        assert_eq!(PluginsConfig::load(&missing, false).unwrap(), PluginsConfig::default());
        let error = format!("{:#}", PluginsConfig::load(&missing, true).unwrap_err());
        assert!(error.starts_with(&format!("cannot read the plugins config {}", missing.display())), "{error}");
        std::fs::write(&missing, "[plugins.x]\ncpu-time = -1\n").unwrap();
        let error = format!("{:#}", PluginsConfig::load(&missing, false).unwrap_err());
        assert!(error.starts_with(&format!("plugins config {}: [plugins.x] cpu-time", missing.display())), "{error}");
    }
}
