//! ecr-engine: a container-image security scanner.
//!
//! One module per stage of the flow (see DESIGN.md):
//! `source` (where image bytes come from) -> `image` (index, manifest, config, platform) ->
//! `layer` (digest check, decode, tar walk, selection) -> `view` (whiteouts, links, the merged
//! view) -> `plugin` (sandboxed analyzers) -> `report`. `rootfs` reads unpacked root filesystems;
//! `scan` wires the stages together; `store` keeps vulnerability data, the layer cache and the
//! scan history, which `history` (rescan, diff) reads; `cli` is the command line.

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
pub mod report;
pub mod rootfs;
pub mod scan;
pub mod source;
pub mod store;
pub mod tar_reader;
pub mod view;
pub mod vuln;
