//! ecr-engine: a container-image security scanner.
//!
//! One module per stage of the flow:
//! `source` (where image bytes come from) -> `image` (index, manifest, config, platform) ->
//! `layer` (digest check, decode, tar walk, selection) -> `view` (whiteouts, links, the merged
//! view) -> `plugin` (sandboxed analyzers) -> `report`. `rootfs` reads unpacked root filesystems;
//! `regular_file` opens every file the user or an image names (regular files only, reads
//! bounded); `scan` wires the stages together; `store` keeps vulnerability data, the layer cache
//! and the scan history, which `history` (rescan, diff) reads; `cli` is the command line;
//! `terminal` is the one way out to a person's terminal.

// Everything for people goes through `terminal`, which escapes what an image could use to rewrite
// the screen; a stray print! would bypass it.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod aws;
pub mod cli;
pub mod digest;
pub mod history;
pub mod image;
pub mod layer;
pub mod model;
pub mod plugin;
pub mod policy;
pub mod registry;
pub mod regular_file;
pub mod report;
pub mod rootfs;
pub mod scan;
pub mod source;
pub mod store;
pub mod tar_reader;
pub mod terminal;
pub mod view;
pub mod vuln;
