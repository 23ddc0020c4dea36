//! Shared support code for the integration tests (`mod common;` in each test file).
//!
//! Each integration test is its own crate and uses only part of this module, so unused-item
//! warnings are silenced here rather than in every test.
#![allow(dead_code)]

pub mod cli;
pub mod image;
pub mod moto;
pub mod osv;
pub mod registry;
pub mod require;
pub mod venv;
