//! The default analyzers, built from `plugins/*` by this crate's build script, as bytes the
//! engine embeds: the component and, for a native build, its code precompiled for the build
//! machine with the plugin host's wasmtime configuration (`ecr_wasm_engine::config`).

/// One default analyzer.
#[derive(Debug)]
pub struct BuiltinPlugin {
    /// Its directory under `plugins/`, e.g. `dpkg`.
    pub name: &'static str,
    /// The WebAssembly component.
    pub wasm: &'static [u8],
    /// `wasmtime::Engine::precompile_component` output for the build machine, `None` when
    /// cross-compiled. The engine uses it only if wasmtime accepts it as compatible (same
    /// version, settings and CPU features), else compiles `wasm`.
    pub precompiled: Option<&'static [u8]>,
}

// `BUILTIN_PLUGINS: &[BuiltinPlugin]`, and `BUILTIN_PLUGIN_FILES: &[(&str, &str)]` as
// (directory name, path of the component file) for tests.
include!(concat!(env!("OUT_DIR"), "/builtin_plugins.rs"));
