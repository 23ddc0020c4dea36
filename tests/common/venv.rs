//! Pinned Python virtualenvs for the tests' real tools (schema validators, the moto emulator):
//! made once per target directory, named after their pins (changing a pin makes a new one), built
//! aside and renamed into place so a concurrent test never sees half of one.

use super::image::sha256_digest;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One `pip install -r` step: the requirements text and extra pip arguments (e.g.
/// `--require-hashes`).
pub struct Requirements<'a> {
    pub text: &'a str,
    pub pip_args: &'a [&'a str],
}

/// The Python of the virtualenv `name` with `steps` installed, making it when missing.
pub fn python(name: &str, steps: &[Requirements]) -> Result<PathBuf, String> {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let pins: String = steps.iter().map(|s| format!("{}{}", s.pip_args.join(" "), s.text)).collect();
    let venv = tmp.join(format!("{name}-{}", &sha256_digest(pins.as_bytes())[7..19]));
    let python = venv.join("bin/python");
    if !venv.join("ready").is_file() {
        make(tmp, &venv, steps)?;
    }
    Ok(python)
}

fn make(tmp: &Path, venv: &Path, steps: &[Requirements]) -> Result<(), String> {
    std::fs::create_dir_all(tmp).map_err(|e| e.to_string())?;
    let work = tempfile::Builder::new().prefix("venv-build").tempdir_in(tmp).map_err(|e| e.to_string())?;
    let build = work.path().join("venv");
    run(Command::new("python3").args(["-m", "venv"]).arg(&build), "python3 -m venv")?;
    for (index, step) in steps.iter().enumerate() {
        let requirements = work.path().join(format!("requirements-{index}.txt"));
        std::fs::write(&requirements, step.text).map_err(|e| e.to_string())?;
        run(
            Command::new(build.join("bin/python"))
                .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input"])
                .args(["--retries", "1", "--timeout", "30"])
                .args(step.pip_args)
                .arg("-r")
                .arg(&requirements),
            "pip install",
        )?;
    }
    std::fs::write(build.join("ready"), "").map_err(|e| e.to_string())?;
    match std::fs::rename(&build, venv) {
        Ok(()) => Ok(()),
        Err(_) if venv.join("ready").is_file() => Ok(()),
        Err(e) => Err(format!("cannot move the virtualenv into place: {e}")),
    }
}

pub fn run(command: &mut Command, what: &str) -> Result<(), String> {
    let output = command.output().map_err(|e| format!("{what}: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(6).collect::<Vec<_>>().into_iter().rev().collect();
    Err(format!("{what} failed ({}): {}", output.status, tail.join(" | ")))
}
