//! Builds the hostile test guests, every crate directory under `tests/guests/` (package
//! `ecr-test-guest-<dir>`). `$OUT_DIR/test_guests.rs` defines `TEST_GUESTS` as (directory name,
//! path of the component file).

use ecr_guest_build::write_if_changed;
use std::env;
use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let mut guests_rs = String::from("pub const TEST_GUESTS: &[(&str, &str)] = &[\n");
    for guest in ecr_guest_build::build("tests/guests", "ecr-test-guest-", |_| true) {
        let path = guest.wasm.to_str().unwrap_or_else(|| ecr_guest_build::fail("non-UTF-8 target directory"));
        writeln!(guests_rs, "    ({:?}, {path:?}),", guest.dir).unwrap();
    }
    guests_rs.push_str("];\n");
    write_if_changed(&out_dir.join("test_guests.rs"), guests_rs.as_bytes());
}
