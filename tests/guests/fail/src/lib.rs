//! Test guest: returns `err` from `analyze`, the contract's way to say "could not do my job".

use ecr_plugin_kit::{Analyzer, File, Findings, ImageInfo};

struct Fail;

impl Analyzer for Fail {
    const NAME: &'static str = "fail";
    const VERSION: &'static str = "1.0.0";
    const DESCRIPTION: &'static str = "always returns an error";

    fn patterns() -> Vec<String> {
        vec![]
    }

    fn analyze(_image: &ImageInfo, _files: &[File]) -> Result<Findings, String> {
        Err("fail guest: database format not recognised".into())
    }
}

ecr_plugin_kit::export!(Fail);
