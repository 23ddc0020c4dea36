//! ecr-engine: a container-image security scanner.
//!
//! One module per stage of the flow (see DESIGN.md):
//! `source` (where image bytes come from) -> `image` (manifests, configs, platforms) ->
//! `layer` (digest check, decode, tar walk, selection, whiteouts) -> `plugin` (sandboxed
//! analyzers) -> `report`. `scan` wires the stages together; `cli` is the command line.

pub mod model;
pub mod plugin;
