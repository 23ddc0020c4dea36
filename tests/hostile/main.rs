//! Hostile inputs, one module per class: tar metadata that would size allocations, files that are
//! not regular (FIFOs, devices), slow or lying servers, terminal escape sequences in image
//! content, merged-view edge cases and attribution cost. Each test builds its representative input
//! itself and checks the exit status, the message, and what the input may cost (peak memory of
//! the real binary, or time).

#[path = "../common/mod.rs"]
mod common;
mod merged_view;
mod slow_servers;
mod special_files;
mod tar_metadata;
mod terminal;
