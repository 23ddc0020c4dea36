//! The hostile test guests of `tests/guests/*`, built by this crate's build script for the tests
//! only (a dev-dependency of the engine, so `cargo build --release` never builds them; the same
//! pattern as wasmtime's `test-programs`).

// `TEST_GUESTS: &[(&str, &str)]`: (directory name, path of the component file).
include!(concat!(env!("OUT_DIR"), "/test_guests.rs"));
