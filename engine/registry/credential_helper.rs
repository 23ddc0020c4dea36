//! Docker credential helpers (`docker-credential-NAME get`, the docker-credential-helpers
//! protocol): the server URL on stdin, `{"ServerURL","Username","Secret"}` on stdout. The program
//! is looked up in absolute `PATH` directories only, never taken as a path from the config, and
//! bounded: a time limit (then it is killed), a cap on what is read of its stdout, and only the
//! tail of its stderr kept for the error. Its stdout is never shown once it exited cleanly: it
//! holds the secret.

use super::auth::{Credentials, Login};
use anyhow::{Result, anyhow, bail};
use serde::Deserialize;
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a helper may take (it may prompt a keychain or call a cloud API).
pub const HELPER_TIMEOUT: Duration = Duration::from_secs(30);
/// More than any credentials answer needs.
const STDOUT_CAP: usize = 64 << 10;
/// What is kept of stderr (and of a failing helper's stdout) for the error message.
const MESSAGE_TAIL: usize = 2048;
/// What helpers answer when they hold nothing for the server (docker-credential-helpers'
/// `credentials.errCredentialsNotFoundMessage`).
const NOT_FOUND: &str = "credentials not found in native keychain";
/// The Username that marks Secret as an identity token (OAuth2 refresh token).
const IDENTITY_TOKEN_USER: &str = "<token>";

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// Asks `docker-credential-NAME` for `server_url`'s credentials; `None` when it holds none.
/// `search_path` is the `PATH` value to look the program up in.
pub fn get(name: &str, server_url: &str, search_path: Option<&OsStr>, timeout: Duration) -> Result<Option<Login>> {
    let program = format!("docker-credential-{name}");
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) {
        bail!(
            "'{name}' is not a credential helper name (letters, digits, '.', '_', '-'; helpers are found on PATH, never by path)"
        );
    }
    let path =
        find_on_path(&program, search_path).ok_or_else(|| anyhow!("the credential helper {program} is not on PATH"))?;
    let output = run(&path, server_url, timeout).map_err(|e| anyhow!("the credential helper {program}: {e}"))?;
    if !output.success {
        let message = [output.stdout_tail(), output.stderr_tail()].join(" ").trim().to_string();
        if message.contains(NOT_FOUND) {
            return Ok(None);
        }
        let message = if message.is_empty() { "no message".to_string() } else { message };
        bail!("the credential helper {program} failed for {server_url} ({}): {message}", output.status);
    }
    if output.stdout_truncated {
        bail!("the credential helper {program} wrote more than {STDOUT_CAP} bytes; that is not a credentials answer");
    }
    let answer: HelperAnswer = serde_json::from_slice(&output.stdout).map_err(|_| {
        anyhow!(
            "the credential helper {program} answered {} bytes that are not {{\"Username\",\"Secret\"}} JSON",
            output.stdout.len()
        )
    })?;
    Ok(match (answer.username.as_str(), answer.secret) {
        (_, secret) if secret.is_empty() => None,
        (IDENTITY_TOKEN_USER, secret) => Some(Login::IdentityToken(secret)),
        (username, secret) => Some(Login::Password(Credentials { username: username.to_string(), password: secret })),
    })
}

/// The first regular file named `program` in the absolute directories of `search_path` (an
/// empty or relative entry would mean the working directory: skipped).
fn find_on_path(program: &str, search_path: Option<&OsStr>) -> Option<PathBuf> {
    std::env::split_paths(search_path?)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

struct Output {
    success: bool,
    status: String,
    stdout: Vec<u8>,
    stdout_truncated: bool,
    stderr_tail: Vec<u8>,
}

impl Output {
    fn stdout_tail(&self) -> String {
        tail_text(&self.stdout)
    }

    fn stderr_tail(&self) -> String {
        tail_text(&self.stderr_tail)
    }
}

fn tail_text(bytes: &[u8]) -> String {
    let start = bytes.len().saturating_sub(MESSAGE_TAIL);
    let text: String =
        String::from_utf8_lossy(&bytes[start..]).chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

enum Stream {
    Stdout(Vec<u8>, bool),
    Stderr(Vec<u8>),
}

/// Runs `path get` with `server_url` on stdin, within `timeout`.
fn run(path: &std::path::Path, server_url: &str, timeout: Duration) -> Result<Output> {
    let mut child = Command::new(path)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| anyhow!("cannot start {}: {e}", path.display()))?;
    let deadline = Instant::now() + timeout;
    if let Some(mut stdin) = child.stdin.take() {
        // Docker sends the bare URL; a helper that exits without reading is not an error here.
        let _ = stdin.write_all(server_url.as_bytes());
    }
    // Readers on their own threads, so a helper filling a pipe never blocks the time limit; a
    // grandchild keeping a pipe open only delays them until the deadline.
    let (sender, receiver) = mpsc::channel();
    let mut stdout = child.stdout.take().expect("piped");
    let stdout_sender = sender.clone();
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let _ = (&mut stdout).take(STDOUT_CAP as u64 + 1).read_to_end(&mut kept);
        let truncated = kept.len() > STDOUT_CAP;
        kept.truncate(STDOUT_CAP);
        let _ = std::io::copy(&mut stdout, &mut std::io::sink());
        let _ = stdout_sender.send(Stream::Stdout(kept, truncated));
    });
    let mut stderr = child.stderr.take().expect("piped");
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut chunk = [0u8; 4096];
        while let Ok(n @ 1..) = stderr.read(&mut chunk) {
            kept.extend_from_slice(&chunk[..n]);
            if kept.len() > 2 * MESSAGE_TAIL {
                kept.drain(..kept.len() - MESSAGE_TAIL);
            }
        }
        let _ = sender.send(Stream::Stderr(kept));
    });
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("did not answer within {} s and was stopped", timeout.as_secs());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut output = Output {
        success: status.success(),
        status: status.to_string(),
        stdout: Vec::new(),
        stdout_truncated: false,
        stderr_tail: Vec::new(),
    };
    for _ in 0..2 {
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_secs(1));
        match receiver.recv_timeout(left) {
            Ok(Stream::Stdout(bytes, truncated)) => (output.stdout, output.stdout_truncated) = (bytes, truncated),
            Ok(Stream::Stderr(bytes)) => output.stderr_tail = bytes,
            Err(_) => bail!("exited but left its output open past {} s", timeout.as_secs()),
        }
    }
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory holding `docker-credential-NAME` with `script` as its body. A child shell
    /// writes it: had this process held it open for writing, a child another test forks at that
    /// moment would inherit the descriptor, and running the script could fail with "Text file
    /// busy" (ETXTBSY).
    fn helper(name: &str, script: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("docker-credential-{name}"));
        let mut writer = Command::new("sh")
            .args(["-c", "cat > \"$1\" && chmod 755 \"$1\"", "sh"])
            .arg(&path)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        writer.stdin.take().unwrap().write_all(format!("#!/bin/sh\n{script}\n").as_bytes()).unwrap();
        assert!(writer.wait().unwrap().success());
        dir
    }

    fn ask(name: &str, dir: &tempfile::TempDir, timeout: Duration) -> Result<Option<Login>> {
        get(name, "reg.example.com", Some(dir.path().as_os_str()), timeout)
    }

    #[test]
    fn answers_of_the_protocol() {
        let dir = helper(
            "t",
            r#"[ "$1" = get ] || exit 9
url=$(cat)
[ "$url" = reg.example.com ] || { echo "unexpected $url" >&2; exit 8; }
printf '{"ServerURL":"%s","Username":"bob","Secret":"pw"}' "$url""#,
        );
        let login = ask("t", &dir, HELPER_TIMEOUT).unwrap().unwrap();
        assert_eq!(login, Login::Password(Credentials { username: "bob".into(), password: "pw".into() }));

        let dir = helper("t", r#"echo '{"ServerURL":"x","Username":"<token>","Secret":"refresh-me"}'"#);
        assert_eq!(ask("t", &dir, HELPER_TIMEOUT).unwrap(), Some(Login::IdentityToken("refresh-me".into())));

        let dir = helper("t", "echo 'credentials not found in native keychain'; exit 1");
        assert_eq!(ask("t", &dir, HELPER_TIMEOUT).unwrap(), None);

        let dir = helper("t", "echo 'the vault is sealed' >&2; exit 1");
        let error = ask("t", &dir, HELPER_TIMEOUT).unwrap_err().to_string();
        assert!(error.contains("docker-credential-t") && error.contains("the vault is sealed"), "{error}");

        // Not JSON after a clean exit: the output is not echoed (it may hold a secret).
        let dir = helper("t", "echo 'Username=bob Secret=hunter2'");
        let error = ask("t", &dir, HELPER_TIMEOUT).unwrap_err().to_string();
        assert!(error.contains("not") && !error.contains("hunter2"), "{error}");

        let dir = helper("t", "head -c 200000 /dev/zero");
        let error = ask("t", &dir, HELPER_TIMEOUT).unwrap_err().to_string();
        assert!(error.contains("more than"), "{error}");
    }

    #[test]
    fn a_hanging_helper_is_stopped() {
        let dir = helper("slow", "exec sleep 30");
        let error = ask("slow", &dir, Duration::from_millis(300)).unwrap_err().to_string();
        assert!(error.contains("docker-credential-slow") && error.contains("stopped"), "{error}");
    }

    #[test]
    fn helpers_come_from_path_only() {
        let dir = helper("t", "echo '{}'");
        for name in ["../t", "/bin/sh", "", "a b"] {
            let error = ask(name, &dir, HELPER_TIMEOUT).unwrap_err().to_string();
            assert!(error.contains("not a credential helper name"), "{name}: {error}");
        }
        let error = ask("absent", &dir, HELPER_TIMEOUT).unwrap_err().to_string();
        assert!(error.contains("docker-credential-absent is not on PATH"), "{error}");
        // A relative PATH entry (the working directory) is not searched.
        let error = get("t", "x", Some(OsStr::new("relative/dir")), HELPER_TIMEOUT).unwrap_err().to_string();
        assert!(error.contains("not on PATH"), "{error}");
    }
}
