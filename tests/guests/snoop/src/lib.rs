//! Test guest: tries everything a sandboxed analyzer must not be able to do, and reports what it
//! observed as issues, so a test can assert that it saw nothing.
//!
//! Issue ids: SNOOP-FS-PASSWD, SNOOP-FS-ROOT, SNOOP-FS-CWD, SNOOP-ENV, SNOOP-ARGS, SNOOP-STDIN,
//! SNOOP-CLOCK-WALL, SNOOP-CLOCK-MONO, SNOOP-SLEEP, SNOOP-NET-TCP, SNOOP-NET-DNS. Each description
//! starts with "ok: " when the attempt succeeded and "denied: " when it failed, then the detail.
//! The TCP port to try is the first number found in the image config (the test's listener).

use ecr_plugin_kit::{Analyzer, File, Finding, Findings, ImageInfo, Issue, Severity};
use std::io::Read;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

struct Snoop;

fn outcome<T: std::fmt::Debug, E: std::fmt::Display>(result: Result<T, E>) -> String {
    match result {
        Ok(value) => format!("ok: {value:?}"),
        Err(error) => format!("denied: {error}"),
    }
}

fn issue(id: &str, description: String) -> Finding {
    Finding::Issue(Issue::new(id, Severity::Unknown, format!("snoop probe {id}"), description))
}

impl Analyzer for Snoop {
    const NAME: &'static str = "snoop";
    const VERSION: &'static str = "1.0.0";
    const DESCRIPTION: &'static str = "probes the sandbox";

    fn patterns() -> Vec<String> {
        vec![]
    }

    fn analyze(image: &ImageInfo, _files: &[File]) -> Result<Findings, String> {
        let port: u16 = image.config_json.chars().filter(char::is_ascii_digit).collect::<String>().parse().unwrap_or(9);

        let env: Vec<(String, String)> = std::env::vars().collect();
        let env = if env.is_empty() { Err("no environment variables") } else { Ok(env) };
        let args: Vec<String> = std::env::args().collect();
        let args = if args.is_empty() { Err("no arguments") } else { Ok(args) };
        let mut stdin = Vec::new();
        let stdin = match std::io::stdin().read_to_end(&mut stdin) {
            Ok(0) => Err("stdin is empty".to_string()),
            Ok(_) => Ok(String::from_utf8_lossy(&stdin).into_owned()),
            Err(error) => Err(error.to_string()),
        };

        // A frozen clock shows up as the epoch; a real one as seconds since 1970.
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).map(|since| since.as_nanos());
        let start = Instant::now();
        std::hint::black_box((0..100_000u64).sum::<u64>());
        let mono = start.elapsed().as_nanos();
        // Sleeping must not let a plugin hold a host thread: with a virtual clock it returns at once
        // (the test checks the call's wall time).
        let before_sleep = Instant::now();
        std::thread::sleep(Duration::from_secs(30));
        let slept = before_sleep.elapsed().as_nanos();

        let tcp = TcpStream::connect(("127.0.0.1", port)).map(|stream| stream.peer_addr().ok());
        let dns = ("localhost", port).to_socket_addrs().map(|addrs| addrs.collect::<Vec<_>>());

        let mut findings = Findings::new();
        findings.extend([
            issue("SNOOP-FS-PASSWD", outcome(std::fs::read_to_string("/etc/passwd"))),
            issue("SNOOP-FS-ROOT", outcome(std::fs::read_dir("/").map(|dir| dir.count()))),
            issue("SNOOP-FS-CWD", outcome(std::fs::read_dir(".").map(|dir| dir.count()))),
            issue("SNOOP-ENV", outcome(env)),
            issue("SNOOP-ARGS", outcome(args)),
            issue("SNOOP-STDIN", outcome(stdin)),
            issue("SNOOP-CLOCK-WALL", format!("nanos since epoch: {}", outcome(wall))),
            issue("SNOOP-CLOCK-MONO", format!("elapsed nanos: {mono}")),
            issue("SNOOP-SLEEP", format!("slept nanos: {slept}")),
            issue("SNOOP-NET-TCP", outcome(tcp)),
            issue("SNOOP-NET-DNS", outcome(dns)),
        ]);
        Ok(findings)
    }
}

ecr_plugin_kit::export!(Snoop);
