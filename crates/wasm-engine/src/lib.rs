//! The wasmtime configuration of the plugin host, in one place: the engine loads plugins with it
//! (`engine/plugin`), and the build script of `crates/builtin-plugins` precompiles the built-in
//! analyzers with it. Native code is only usable by an engine with the same code-affecting
//! settings, so both must take them from here and can never drift apart.
//!
//! The wasmtime dependency comes from `[workspace.dependencies]` with every feature the engine's
//! build turns on, so the build script's wasmtime is the same build as the engine's.

use wasmtime::{Config, OptLevel};

/// The configuration every plugin engine is created with: Cranelift optimizing for speed, epoch
/// interruption (the CPU time limit of a plugin call), the component model.
pub fn config() -> Config {
    let mut config = Config::new();
    config.cranelift_opt_level(OptLevel::Speed).epoch_interruption(true).wasm_component_model(true);
    config
}
