//! Compiled-artifact cache: a plugin is compiled to native code once, then loaded from
//! `<cache_dir>/compiled/<sha256 of the wasm>-<engine hash>.cwasm` (about 1 ms instead of tens).
//! The built-in analyzers come precompiled in the binary ([`precompiled_component`]) and only
//! reach the cache when this machine cannot run that code.

use super::Compilation;
use crate::regular_file::read_regular;
use sha2::{Digest, Sha256};
use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use wasmtime::component::Component;
use wasmtime::{Engine, Precompiled};

/// A cached artifact larger than this is not read (compiled analyzers are a few MiB; a 64 MiB
/// component compiles to some times that): compiled again instead.
const MAX_ARTIFACT_BYTES: u64 = 1 << 30;

pub(super) struct ArtifactCache {
    dir: PathBuf,
    /// Identifies the engine's version and code-affecting settings, so an artifact of another
    /// build of this tool is never even looked at.
    engine_hash: String,
}

impl ArtifactCache {
    pub(super) fn new(cache_dir: &Path, engine: &Engine) -> ArtifactCache {
        let mut hasher = Sha256Hasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let digest = hex::encode(hasher.0.finalize());
        ArtifactCache { dir: cache_dir.join("compiled"), engine_hash: digest[..16].to_owned() }
    }

    /// The component for `wasm` (whose sha256 is `sha256`), and whether it came from the cache.
    pub(super) fn component(
        &self,
        engine: &Engine,
        wasm: &[u8],
        sha256: &str,
    ) -> wasmtime::Result<(Component, Compilation)> {
        let path = self.dir.join(format!("{sha256}-{}.cwasm", self.engine_hash));
        // Read into memory rather than `Component::deserialize_file`: that one maps the file, and
        // anything truncating it in place (a cache cleaner, a user) would crash every scan that
        // has it loaded with SIGBUS. A plugin artifact is a few hundred KB; reading costs ~0.1 ms.
        if let Ok(artifact) = read_regular(&path, MAX_ARTIFACT_BYTES, "a compiled plugin") {
            // SAFETY: deserializing loads native code, so it must only see artifacts wasmtime
            // produced. This file is in this tool's own cache directory, written only by `store`
            // below (complete files appear only by rename, never partially), and named by the
            // content hash of the wasm and of the engine configuration; wasmtime also checks the
            // header and rejects artifacts of another version or configuration. Anyone able to
            // plant a file there could already run code as this user.
            // If it is stale or damaged, fall through: compile again and replace it.
            if let Ok(component) = unsafe { Component::deserialize(engine, &artifact) } {
                return Ok((component, Compilation::Cached));
            }
        }
        let compiled = engine.precompile_component(wasm)?;
        // The cache is only an optimization: a read-only or full disk must not stop a scan.
        let _ = store(&path, &compiled);
        // SAFETY: these bytes were produced by `precompile_component` of this engine just above.
        let component = unsafe { Component::deserialize(engine, &compiled) }?;
        Ok((component, Compilation::Compiled))
    }
}

/// A built-in analyzer's precompiled code as a component, or `None` when this engine cannot run
/// it: wasmtime's checks refuse code of another wasmtime version, other engine settings or CPU
/// features the machine lacks (the binary was built elsewhere), and the caller compiles instead.
pub(super) fn precompiled_component(engine: &Engine, native: &'static [u8]) -> Option<Component> {
    if Engine::detect_precompiled(native) != Some(Precompiled::Component) {
        return None;
    }
    // SAFETY: deserializing loads native code, so it must only see artifacts wasmtime produced.
    // These bytes are `Engine::precompile_component` output written by our own build script
    // (crates/builtin-plugins/build.rs, with the same `ecr_wasm_engine::config()` as `engine`) and
    // embedded in this binary by `include_bytes!`: no one can change them without changing the
    // binary itself. wasmtime still checks the header (version, target, settings, CPU features).
    unsafe { Component::deserialize(engine, native) }.ok()
}

/// Writes `bytes` to `path` atomically: a unique temporary file in the same directory, then a
/// rename, so concurrent scans never see (or mmap) a half-written artifact.
fn store(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().expect("artifact paths are inside the cache directory");
    fs::create_dir_all(dir)?;
    let temp = dir.join(format!(
        ".{}.{}.{}.tmp",
        path.file_name().and_then(|name| name.to_str()).unwrap_or("artifact"),
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    ));
    let written = fs::File::create(&temp)
        .and_then(|mut file| file.write_all(bytes).and_then(|()| file.sync_all()))
        .and_then(|()| fs::rename(&temp, path));
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written
}

/// Feeds a `Hash` implementation into SHA-256: stable across runs and Rust versions, unlike
/// `DefaultHasher`.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        u64::from_le_bytes(digest[..8].try_into().expect("sha256 is 32 bytes"))
    }
}
