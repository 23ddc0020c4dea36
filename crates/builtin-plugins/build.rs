//! Builds the default analyzers, every crate directory under `plugins/` except `plugins/kit`
//! (package `ecr-plugin-<dir>`), and precompiles each for the host with the plugin host's own
//! wasmtime configuration (`ecr_wasm_engine::config`), so that a first run on a fresh machine
//! does not spend a second in Cranelift. `$OUT_DIR/builtin_plugins.rs` defines
//! `BUILTIN_PLUGINS` (what the engine embeds) and `BUILTIN_PLUGIN_FILES` (the component files, for
//! tests that drop them into a plugins directory as a user would).
//!
//! When cross-compiling the native code would be for the wrong machine, so none is embedded and
//! the engine compiles at run time (and caches) as it does for any plugin file.

use ecr_guest_build::{fail, write_if_changed};
use std::collections::hash_map::DefaultHasher;
use std::env;
use std::fmt::Write as _;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

fn main() {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let builtins = ecr_guest_build::build("plugins", "ecr-plugin-", |name| name != "kit");
    let precompile_for_host = env::var("TARGET").ok() == env::var("HOST").ok();
    let engine = precompile_for_host.then(|| {
        wasmtime::Engine::new(&ecr_wasm_engine::config())
            .unwrap_or_else(|error| fail(&format!("cannot start wasmtime to precompile the built-in plugins: {error}")))
    });

    let mut plugins_rs = String::from("pub static BUILTIN_PLUGINS: &[BuiltinPlugin] = &[\n");
    let mut files_rs = String::from("pub const BUILTIN_PLUGIN_FILES: &[(&str, &str)] = &[\n");
    for guest in &builtins {
        let wasm_path = utf8(&guest.wasm);
        let precompiled = match &engine {
            Some(engine) => format!("Some(include_bytes!({:?}))", utf8(&precompile(engine, &guest.wasm, &out_dir))),
            None => "None".to_owned(),
        };
        writeln!(
            plugins_rs,
            "    BuiltinPlugin {{ name: {:?}, wasm: include_bytes!({wasm_path:?}), precompiled: {precompiled} }},",
            guest.dir
        )
        .unwrap();
        writeln!(files_rs, "    ({:?}, {wasm_path:?}),", guest.dir).unwrap();
    }
    plugins_rs.push_str("];\n");
    files_rs.push_str("];\n");
    write_if_changed(&out_dir.join("builtin_plugins.rs"), (plugins_rs + &files_rs).as_bytes());
}

/// Precompiles the component at `wasm` into `$OUT_DIR/<name>.cwasm` and returns that path. Skipped
/// when the file there was made from the same component by an engine with the same settings
/// (recorded in `<name>.cwasm.key`), so touching one plugin recompiles that one only.
fn precompile(engine: &wasmtime::Engine, wasm: &Path, out_dir: &Path) -> PathBuf {
    let bytes = fs::read(wasm).unwrap_or_else(|error| fail(&format!("cannot read {}: {error}", wasm.display())));
    let name = wasm.file_stem().expect("a built component has a file name").to_string_lossy();
    let native = out_dir.join(format!("{name}.cwasm"));
    let key_path = out_dir.join(format!("{name}.cwasm.key"));
    // Only compared with keys this same build-script binary wrote, so `DefaultHasher` is stable
    // enough; a new toolchain at worst recompiles once.
    let mut hasher = DefaultHasher::new();
    bytes.hash(&mut hasher);
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let key = format!("{:016x}", hasher.finish());
    if native.is_file() && fs::read_to_string(&key_path).is_ok_and(|old| old == key) {
        return native;
    }
    let compiled = engine
        .precompile_component(&bytes)
        .unwrap_or_else(|error| fail(&format!("cannot precompile {}: {error}", wasm.display())));
    write_if_changed(&native, &compiled);
    write_if_changed(&key_path, key.as_bytes());
    native
}

fn utf8(path: &Path) -> &str {
    path.to_str().unwrap_or_else(|| fail(&format!("non-UTF-8 path {}", path.display())))
}
