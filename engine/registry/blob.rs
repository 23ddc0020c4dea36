//! Downloading one blob over HTTP as a plain `Read`, surviving what networks do to long downloads:
//! a connection dropped mid-body resumes with a Range request, throttling and server errors are
//! retried with bounded exponential backoff, and an expired URL or token is asked for again.
//! The caller verifies the digest (see `digest::VerifyingReader`): this reader only moves bytes.

use super::metadata_guard::GuardedResolver;
use anyhow::Result;
use std::io::{self, Read};
use std::time::{Duration, Instant};

/// Where to GET a blob: the URL and the headers to send with it (e.g. a registry's
/// `Authorization`; none for a presigned URL, which carries its own signature).
#[derive(Debug, Clone, Default)]
pub struct BlobRequest {
    pub url: String,
    pub headers: Vec<(String, String)>,
}

/// Hands out the request for a blob. `refresh` is true after the server refused the previous one
/// (401/403): an expired presigned URL or token must be obtained anew.
pub trait UrlSource: Send {
    fn request(&mut self, refresh: bool) -> Result<BlobRequest>;
}

/// How hard to try before giving up on a blob, and how slow a server may be. Attempts end on a
/// failed request, a dropped connection, the idle timeout or the minimum-progress rule; the
/// deadline bounds everything one download may take.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Consecutive failed attempts (without `min_progress.bytes` of progress between them) before
    /// giving up.
    pub max_attempts: u32,
    /// The first backoff; doubled on each consecutive failure up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// A server's `Retry-After` is honoured up to this long per wait (the deadline bounds the sum).
    pub max_retry_after: Duration,
    /// An attempt during which no byte arrives for this long ends (`--download-idle-timeout`).
    pub idle_timeout: Duration,
    /// An attempt that receives less than this ends (`--download-min-progress`).
    pub min_progress: MinProgress,
    /// The most time one blob or request may spend waiting on the server, every attempt and every
    /// wait between them included (`--download-deadline`).
    pub deadline: Duration,
}

/// At least `bytes` must arrive in every `window` of reading an attempt's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinProgress {
    pub bytes: u64,
    pub window: Duration,
}

impl RetryPolicy {
    /// Retries after the first attempt when `--download-retries` is not given.
    pub const DEFAULT_RETRIES: u32 = 7;
    /// Longer than any pause a working registry or storage backend makes before or between
    /// bytes, and a minute instead of the hours a dead TCP connection can take to be noticed.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
    /// About 340 bytes a second, far below any usable link (a 56k modem does 7 KB/s): only a
    /// server trickling on purpose, or a connection that is dead in all but name, falls under it.
    /// The window is long enough that a congestion stall of a few seconds never trips it.
    pub const DEFAULT_MIN_PROGRESS: MinProgress = MinProgress { bytes: 10 << 10, window: Duration::from_secs(30) };
    /// Layers reach gigabytes: 30 minutes of waiting on the server (the time spent decoding what
    /// arrived does not count) lets a 5 GB layer through at 3 MB/s, and still ends a server that
    /// drips a blob over reconnections that each look like progress.
    pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30 * 60);

    /// After the `failures`-th consecutive failure (`reason`), with `spent` of the deadline used:
    /// how long to wait before the next attempt (the server's `Retry-After` when it gave one,
    /// else exponential backoff), or why to stop.
    pub fn wait_before_retry(
        &self,
        failures: u32,
        retry_after: Option<Duration>,
        spent: Duration,
        reason: &str,
    ) -> Result<Duration, String> {
        let left = self.deadline.saturating_sub(spent);
        if let Some(asked) = retry_after
            && asked > left
        {
            return Err(format!(
                "the server asked to wait {asked:?} before retrying (Retry-After), longer than the {:?} left of the {:?} download deadline (--download-deadline); the last answer: {reason}",
                Duration::from_secs(left.as_secs()),
                self.deadline
            ));
        }
        if failures >= self.max_attempts {
            return Err(format!(
                "{failures} attempts failed in a row (--download-retries allows more); the last: {reason}"
            ));
        }
        let wait = match retry_after {
            Some(asked) => asked.min(self.max_retry_after),
            None => self.initial_backoff.saturating_mul(1 << failures.saturating_sub(1).min(16)).min(self.max_backoff),
        };
        if wait >= left {
            return Err(format!("{}; the last failure: {reason}", self.deadline_passed()));
        }
        Ok(wait)
    }

    fn deadline_passed(&self) -> String {
        format!("the {:?} download deadline passed (--download-deadline)", self.deadline)
    }

    /// What the idle timeout ending an attempt is reported as.
    fn idle(&self) -> String {
        format!("no byte arrived for {:?} (--download-idle-timeout)", self.idle_timeout)
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: Self::DEFAULT_RETRIES + 1,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(20),
            max_retry_after: Duration::from_secs(120),
            idle_timeout: Self::DEFAULT_IDLE_TIMEOUT,
            min_progress: Self::DEFAULT_MIN_PROGRESS,
            deadline: Self::DEFAULT_DEADLINE,
        }
    }
}

/// Connection set-up and the wait for a response's headers, per attempt (the deadline still
/// bounds both).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(120);

/// The HTTP agent blob downloads and registry calls use: statuses are inspected, not turned into
/// errors; bodies are asked for unencoded so Range offsets count blob bytes; a stalled connection
/// ends after the idle timeout and a whole call (a token or `/v2/` request with its body) after
/// the deadline. Every host it connects to, redirects included, is checked by
/// `metadata_guard::GuardedResolver`, except `trusted_host` (the registry the user named).
/// Redirects keep ureq's default of never forwarding `Authorization`, so credentials never reach
/// a storage backend.
pub fn http_agent(policy: &RetryPolicy, trusted_host: Option<&str>) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .accept_encoding("identity")
        .user_agent(concat!("ecr-engine/", env!("CARGO_PKG_VERSION")))
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_recv_response(Some(RESPONSE_TIMEOUT))
        .timeout_per_read(Some(policy.idle_timeout))
        .timeout_global(Some(policy.deadline))
        .build();
    ureq::Agent::with_parts(
        config,
        ureq::unversioned::transport::DefaultConnector::new(),
        GuardedResolver::new(trusted_host),
    )
}

/// What a failed request is reported as: ureq's words, except for the limits ecr-engine set.
pub(crate) fn describe(error: &ureq::Error, policy: &RetryPolicy) -> String {
    match error {
        ureq::Error::Timeout(ureq::Timeout::PerRead) => policy.idle(),
        ureq::Error::Timeout(ureq::Timeout::Global) => policy.deadline_passed(),
        // The resolver's refusal explains itself.
        ureq::Error::Other(refusal) => refusal.to_string(),
        other => other.to_string(),
    }
}

/// A blob being downloaded, read as one stream however many requests it takes.
pub struct ResumableBlob {
    agent: ureq::Agent,
    source: Box<dyn UrlSource>,
    /// Names the blob in errors, e.g. "layer sha256:...".
    what: String,
    expected_size: Option<u64>,
    policy: RetryPolicy,
    /// Bytes handed to the caller so far.
    position: u64,
    body: Option<ureq::BodyReader<'static>>,
    /// Host of the last URL, for messages (never the whole URL: presigned ones hold signatures).
    host: String,
    /// Failed attempts since the last attempt that made `min_progress.bytes` of progress.
    failures: u32,
    /// Where the current attempt's body started.
    attempt_start: u64,
    /// Time spent inside `read` before the current call: waiting on the server, not on the
    /// consumer (a layer's decoder may hold the stream while it works).
    spent_before: Duration,
    /// When the current `read` call began.
    read_started: Instant,
    /// `spent()` and `position` when the current minimum-progress window opened.
    window_start: (Duration, u64),
    /// Why the download was given up: every later read fails the same way, without trying again
    /// (the layer pipeline reads on after an error to check the digest).
    given_up: Option<String>,
}

impl ResumableBlob {
    /// `what` names the blob in error messages; `expected_size` (from the descriptor) lets a
    /// clean-looking early end of body be recognised as a drop and resumed.
    pub fn new(
        agent: ureq::Agent,
        source: Box<dyn UrlSource>,
        what: impl Into<String>,
        expected_size: Option<u64>,
        policy: RetryPolicy,
    ) -> ResumableBlob {
        ResumableBlob {
            agent,
            source,
            what: what.into(),
            expected_size,
            policy,
            position: 0,
            body: None,
            host: String::new(),
            failures: 0,
            attempt_start: 0,
            spent_before: Duration::ZERO,
            read_started: Instant::now(),
            window_start: (Duration::ZERO, 0),
            given_up: None,
        }
    }

    /// Time this download has spent waiting on the server so far (only meaningful inside `read`).
    fn spent(&self) -> Duration {
        self.spent_before + self.read_started.elapsed()
    }

    fn check_deadline(&self) -> io::Result<()> {
        if self.spent() >= self.policy.deadline {
            return Err(self.give_up(self.policy.deadline_passed()));
        }
        Ok(())
    }

    /// The minimum-progress rule: why the current attempt is too slow to go on, once a whole
    /// window has passed with too few bytes; each window that passes the rule opens the next.
    fn too_slow(&mut self) -> Option<String> {
        let MinProgress { bytes, window } = self.policy.min_progress;
        let (opened, position) = self.window_start;
        let spent = self.spent();
        if spent.saturating_sub(opened) < window {
            return None;
        }
        let arrived = self.position - position;
        if arrived < bytes {
            return Some(format!(
                "only {arrived} bytes arrived in {:?}, under the minimum of {bytes} bytes per {window:?} (--download-min-progress)",
                Duration::from_secs(spent.saturating_sub(opened).as_secs())
            ));
        }
        self.window_start = (spent, self.position);
        None
    }

    /// Opens the body at `self.position`, retrying until it streams or the policy gives up.
    fn open(&mut self) -> io::Result<()> {
        let mut refresh = false;
        let mut refreshed = false;
        loop {
            self.check_deadline()?;
            let request = self
                .source
                .request(refresh)
                .map_err(|e| io::Error::other(format!("{}: cannot get the download URL: {e:#}", self.what)))?;
            self.host = url_host(&request.url);
            let left = self.policy.deadline.saturating_sub(self.spent());
            // The agent's whole-call limit would count the time the consumer holds the stream:
            // the deadline is kept by `spent` instead, and each wait here ends before it.
            let mut call = self
                .agent
                .get(&request.url)
                .config()
                .timeout_global(None)
                .timeout_connect(Some(CONNECT_TIMEOUT.min(left)))
                .timeout_recv_response(Some(RESPONSE_TIMEOUT.min(left)))
                .timeout_per_read(Some(self.policy.idle_timeout.min(left)))
                .build();
            for (name, value) in &request.headers {
                call = call.header(name, value);
            }
            if self.position > 0 {
                call = call.header("Range", format!("bytes={}-", self.position));
            }
            let response = match call.call() {
                Ok(response) => response,
                Err(error) if transient(&error) => {
                    self.back_off(format!("the request failed: {}", describe(&error, &self.policy)), None)?;
                    continue;
                }
                Err(error) => {
                    return Err(self.give_up(format!("the request failed: {}", describe(&error, &self.policy))));
                }
            };
            let status = response.status().as_u16();
            match status {
                200 | 206 => {
                    let resumed_at = if status == 206 { content_range_start(&response) } else { Some(0) };
                    if self.expected_size.is_none() && status == 200 {
                        // Lets a later early end of body be recognised as a drop and resumed.
                        self.expected_size = response.body().content_length();
                    }
                    let mut body = response.into_body().into_reader();
                    match resumed_at {
                        Some(start) if start == self.position => {}
                        // The server ignored the Range header: skip what was already delivered.
                        Some(0) => match io::copy(&mut (&mut body).take(self.position), &mut io::sink()) {
                            Ok(skipped) if skipped == self.position => {}
                            Ok(skipped) => {
                                self.back_off(
                                    format!(
                                        "the body ended after {skipped} bytes, before the {} already read",
                                        self.position
                                    ),
                                    None,
                                )?;
                                continue;
                            }
                            Err(error) => {
                                let reason = self.read_failure("the connection failed", &error);
                                self.back_off(reason, None)?;
                                continue;
                            }
                        },
                        other => {
                            return Err(self.give_up(format!(
                                "asked to resume at byte {} but the server answered 206 with Content-Range starting at {}",
                                self.position,
                                other.map_or("an unreadable position".to_string(), |s| s.to_string())
                            )));
                        }
                    }
                    self.body = Some(body);
                    self.attempt_start = self.position;
                    self.window_start = (self.spent(), self.position);
                    return Ok(());
                }
                401 | 403 if !refreshed => {
                    // An expired presigned URL or token: ask for a fresh one once.
                    refresh = true;
                    refreshed = true;
                }
                401 | 403 => {
                    let detail = error_body(response);
                    return Err(self.give_up(format!(
                        "access denied (HTTP {status}) even with fresh credentials{detail}; check that the credentials may pull this repository"
                    )));
                }
                404 => {
                    let detail = error_body(response);
                    return Err(self.give_up(format!("not found (HTTP 404){detail}")));
                }
                429 | 500..=599 => {
                    let retry_after = retry_after(&response);
                    let detail = error_body(response);
                    self.back_off(format!("HTTP {status}{detail}"), retry_after)?;
                }
                _ => {
                    let detail = error_body(response);
                    return Err(self.give_up(format!("unexpected HTTP {status}{detail}")));
                }
            }
        }
    }

    /// A read error as reported: the idle timeout by its name, anything else as it came.
    fn read_failure(&self, what: &str, error: &io::Error) -> String {
        match error.get_ref().and_then(|inner| inner.downcast_ref::<ureq::Error>()) {
            Some(inner) => format!("{what}: {}", describe(inner, &self.policy)),
            None => format!("{what}: {error}"),
        }
    }

    /// Records a failed attempt and sleeps before the next, or gives up when the policy is spent.
    fn back_off(&mut self, reason: String, retry_after: Option<Duration>) -> io::Result<()> {
        self.body = None;
        self.failures += 1;
        match self.policy.wait_before_retry(self.failures, retry_after, self.spent(), &reason) {
            Ok(wait) => {
                std::thread::sleep(wait);
                Ok(())
            }
            Err(why) => Err(self.give_up(why)),
        }
    }

    fn give_up(&self, reason: String) -> io::Error {
        io::Error::other(format!(
            "{}: download from {} failed at byte {}: {reason}",
            self.what, self.host, self.position
        ))
    }

    fn read_with_retries(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            self.check_deadline()?;
            if self.body.is_none() {
                if self.expected_size.is_some_and(|size| self.position >= size) {
                    return Ok(0);
                }
                self.open()?;
            }
            if let Some(reason) = self.too_slow() {
                self.back_off(reason, None)?;
                continue;
            }
            let body = self.body.as_mut().expect("opened above");
            match body.read(buf) {
                Ok(0) => match self.expected_size {
                    Some(size) if self.position < size => {
                        self.back_off(format!("the connection closed after {} of {size} bytes", self.position), None)?;
                    }
                    _ => return Ok(0),
                },
                Ok(n) => {
                    self.position += n as u64;
                    // A little progress does not start the count of failures afresh: a server
                    // that drops every connection after a few bytes must run out of retries.
                    if self.position - self.attempt_start >= self.policy.min_progress.bytes {
                        self.failures = 0;
                    }
                    return Ok(n);
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => {
                    let reason = self.read_failure("the connection failed mid-body", &error);
                    self.back_off(reason, None)?;
                }
            }
        }
    }
}

impl Read for ResumableBlob {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(reason) = &self.given_up {
            return Err(io::Error::other(reason.clone()));
        }
        if buf.is_empty() {
            return Ok(0);
        }
        self.read_started = Instant::now();
        let result = self.read_with_retries(buf);
        self.spent_before = self.spent();
        if let Err(error) = &result {
            self.given_up = Some(error.to_string());
        }
        result
    }
}

/// Whether a failed request is worth repeating: a lost or refused connection or a timeout, not
/// a TLS or protocol mismatch that would fail the same way again.
pub(crate) fn transient(error: &ureq::Error) -> bool {
    use io::ErrorKind::*;
    match error {
        ureq::Error::Timeout(_) | ureq::Error::ConnectionFailed => true,
        ureq::Error::Io(error) => matches!(
            error.kind(),
            ConnectionRefused
                | ConnectionReset
                | ConnectionAborted
                | BrokenPipe
                | UnexpectedEof
                | TimedOut
                | NotConnected
                | Interrupted
        ),
        _ => false,
    }
}

/// `scheme://host[:port]/...` -> `host[:port]`.
fn url_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split(['/', '?']).next().unwrap_or(rest).to_string()
}

/// The first byte of `Content-Range: bytes START-END/TOTAL`.
fn content_range_start(response: &ureq::http::Response<ureq::Body>) -> Option<u64> {
    let value = response.headers().get("content-range")?.to_str().ok()?;
    let range = value.trim().strip_prefix("bytes ")?;
    range.split('-').next()?.trim().parse().ok()
}

/// `Retry-After` (the caller caps it; see `RetryPolicy::delay`).
pub(crate) fn retry_after(response: &ureq::http::Response<ureq::Body>) -> Option<Duration> {
    let value = response.headers().get("retry-after")?.to_str().ok()?;
    parse_retry_after(value, time::OffsetDateTime::now_utc())
}

/// RFC 9110's two forms: delay-seconds, or an HTTP-date (IMF-fixdate, e.g.
/// `Sun, 06 Nov 1994 08:49:37 GMT`, which RFC 2822's grammar covers) turned into the time left
/// from `now`; a date already past means no wait. Anything else is treated as absent.
fn parse_retry_after(value: &str, now: time::OffsetDateTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse() {
        return Some(Duration::from_secs(seconds));
    }
    let date = time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()?;
    Some((date - now).try_into().unwrap_or(Duration::ZERO))
}

/// The start of an error response's body (registries explain themselves in JSON), for messages.
pub(crate) fn error_body(response: ureq::http::Response<ureq::Body>) -> String {
    let mut bytes = Vec::new();
    let _ = response.into_body().into_reader().take(2048).read_to_end(&mut bytes);
    let text: String = String::from_utf8_lossy(&bytes).chars().filter(|c| !c.is_control()).take(300).collect();
    if text.trim().is_empty() { String::new() } else { format!(" ({})", text.trim()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::{Arc, Mutex};

    struct Fixed(String);

    impl UrlSource for Fixed {
        fn request(&mut self, _refresh: bool) -> Result<BlobRequest> {
            Ok(BlobRequest { url: self.0.clone(), headers: Vec::new() })
        }
    }

    /// How the loopback server answers the n-th request (given the Range start asked for).
    type Behaviour = dyn Fn(usize, u64, &mut TcpStream, &[u8]) + Send + Sync;

    /// A loopback HTTP/1.1 server, one connection per request, answering as `behaviour` says.
    fn serve(body: Vec<u8>, behaviour: Arc<Behaviour>) -> (String, Arc<Mutex<Vec<u64>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/blob", listener.local_addr().unwrap());
        let ranges = Arc::new(Mutex::new(Vec::new()));
        let seen = ranges.clone();
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut start = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(range) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
                        start = range.trim().trim_end_matches('-').parse().unwrap();
                    }
                }
                seen.lock().unwrap().push(start);
                behaviour(n, start, &mut stream, &body);
            }
        });
        (url, ranges)
    }

    fn respond(stream: &mut TcpStream, status: &str, headers: &str, body: &[u8]) {
        let head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n", body.len());
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(body);
    }

    fn fast() -> RetryPolicy {
        RetryPolicy { initial_backoff: Duration::from_millis(5), max_attempts: 4, ..RetryPolicy::default() }
    }

    fn download(url: String, size: Option<u64>, policy: RetryPolicy) -> io::Result<Vec<u8>> {
        let mut blob =
            ResumableBlob::new(http_agent(&policy, None), Box::new(Fixed(url)), "blob sha256:test", size, policy);
        let mut out = Vec::new();
        blob.read_to_end(&mut out).map(|_| out)
    }

    fn sample() -> Vec<u8> {
        (0..200_000u32).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn resumes_a_dropped_body_with_range() {
        let body = sample();
        let (url, ranges) = serve(
            body.clone(),
            Arc::new(|n, start, stream, body| {
                let rest = &body[start as usize..];
                if n == 0 {
                    // Announce everything, send a third, drop the connection.
                    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", rest.len());
                    let _ = stream.write_all(head.as_bytes());
                    let _ = stream.write_all(&rest[..rest.len() / 3]);
                } else {
                    let range = format!("Content-Range: bytes {start}-{}/{}\r\n", body.len() - 1, body.len());
                    respond(stream, "206 Partial Content", &range, rest);
                }
            }),
        );
        assert_eq!(download(url, Some(body.len() as u64), fast()).unwrap(), body);
        let ranges = ranges.lock().unwrap();
        assert_eq!(ranges.len(), 2);
        assert!(ranges[1] > 0, "the second request resumes where the first stopped: {ranges:?}");
    }

    #[test]
    fn a_server_ignoring_range_is_reread_and_skipped() {
        let body = sample();
        let (url, _) = serve(
            body.clone(),
            Arc::new(|n, _start, stream, body| {
                if n == 0 {
                    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                    let _ = stream.write_all(head.as_bytes());
                    let _ = stream.write_all(&body[..1000]);
                } else {
                    respond(stream, "200 OK", "", body);
                }
            }),
        );
        assert_eq!(download(url, Some(body.len() as u64), fast()).unwrap(), body);
    }

    /// Hands out an "expired" URL until asked to refresh, like an ECR presigned layer URL.
    struct Expiring {
        url: String,
        refreshes: Arc<Mutex<u32>>,
    }

    impl UrlSource for Expiring {
        fn request(&mut self, refresh: bool) -> Result<BlobRequest> {
            let mut refreshes = self.refreshes.lock().unwrap();
            *refreshes += u32::from(refresh);
            Ok(BlobRequest { url: format!("{}?generation={refreshes}", self.url), headers: Vec::new() })
        }
    }

    #[test]
    fn a_refused_url_is_requested_anew_once() {
        let body = sample();
        // Refuses the first request only: the second must come from a refreshed source.
        let (url, ranges) = serve(
            body.clone(),
            Arc::new(|n, _start, stream, body| match n {
                0 => {
                    respond(stream, "403 Forbidden", "", b"<Error><Code>AccessDenied</Code>Request has expired</Error>")
                }
                _ => respond(stream, "200 OK", "", body),
            }),
        );
        let refreshes = Arc::new(Mutex::new(0));
        let source = Expiring { url, refreshes: refreshes.clone() };
        let mut blob =
            ResumableBlob::new(http_agent(&fast(), None), Box::new(source), "layer sha256:test", None, fast());
        let mut out = Vec::new();
        blob.read_to_end(&mut out).unwrap();
        assert_eq!(out, body);
        assert_eq!((*refreshes.lock().unwrap(), ranges.lock().unwrap().len()), (1, 2));

        // Refused again with a fresh URL: give up, naming the blob and the host, not the URL's query.
        let (url, _) = serve(body, Arc::new(|_, _, stream, _| respond(stream, "403 Forbidden", "", b"denied")));
        let source = Expiring { url, refreshes: Arc::new(Mutex::new(0)) };
        let mut blob =
            ResumableBlob::new(http_agent(&fast(), None), Box::new(source), "layer sha256:test", None, fast());
        let error = blob.read_to_end(&mut Vec::new()).unwrap_err().to_string();
        assert!(error.contains("layer sha256:test") && error.contains("403") && error.contains("127.0.0.1"), "{error}");
        assert!(!error.contains("generation="), "{error}");
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = time::macros::datetime!(2026-11-22 06:00:00 UTC);
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Sun, 22 Nov 2026 06:00:42 GMT", now), Some(Duration::from_secs(42)));
        assert_eq!(parse_retry_after("Sun, 22 Nov 2026 05:59:00 GMT", now), Some(Duration::ZERO), "already past");
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
        // A date a day away is capped like a long delay in seconds.
        let far = parse_retry_after("Mon, 23 Nov 2026 06:00:00 GMT", now);
        assert_eq!(far, Some(Duration::from_secs(86_400)));
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.wait_before_retry(1, Some(Duration::from_secs(300)), Duration::ZERO, ""),
            Ok(policy.max_retry_after)
        );
        // More than the deadline leaves: give up at once, saying so.
        let refused = policy.wait_before_retry(1, far, Duration::from_secs(60), "HTTP 429").unwrap_err();
        assert!(
            refused.contains("asked to wait 86400s")
                && refused.contains("1740s left of the 1800s download deadline")
                && refused.contains("HTTP 429"),
            "{refused}"
        );
    }

    #[test]
    fn throttling_is_retried_and_persistent_failure_gives_up() {
        let body = sample();
        let (url, ranges) = serve(
            body.clone(),
            Arc::new(|n, _start, stream, body| match n {
                0 => respond(stream, "429 Too Many Requests", "Retry-After: 0\r\n", b""),
                1 => respond(stream, "503 Service Unavailable", "", b"{\"errors\":[]}"),
                _ => respond(stream, "200 OK", "", body),
            }),
        );
        assert_eq!(download(url, None, fast()).unwrap(), body);
        assert_eq!(ranges.lock().unwrap().len(), 3);

        let (url, _) = serve(body, Arc::new(|_, _, stream, _| respond(stream, "503 Service Unavailable", "", b"busy")));
        let error = download(url, None, fast()).unwrap_err().to_string();
        assert!(error.contains("blob sha256:test") && error.contains("4 attempts") && error.contains("503"), "{error}");
    }

    /// Announces the rest of the body from `start` (206 when resuming) and sends `prefix` bytes of it.
    fn announce(stream: &mut TcpStream, start: u64, body: &[u8], prefix: usize) {
        let rest = &body[start as usize..];
        let head = if start == 0 {
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", rest.len())
        } else {
            let end = body.len() - 1;
            format!(
                "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{end}/{}\r\n\r\n",
                rest.len(),
                body.len()
            )
        };
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(&rest[..prefix.min(rest.len())]);
    }

    #[test]
    fn a_stalled_body_ends_at_the_idle_timeout() {
        let (url, ranges) = serve(
            sample(),
            Arc::new(|_, start, stream, body| {
                announce(stream, start, body, 100);
                std::thread::sleep(Duration::from_secs(2));
            }),
        );
        let policy = RetryPolicy { idle_timeout: Duration::from_millis(300), max_attempts: 2, ..fast() };
        let error = download(url, None, policy).unwrap_err().to_string();
        assert!(
            error.contains("2 attempts failed")
                && error.contains("no byte arrived for 300ms (--download-idle-timeout)"),
            "{error}"
        );
        assert!(ranges.lock().unwrap().len() <= 2);
    }

    #[test]
    fn a_trickle_breaks_the_minimum_progress_rule() {
        let (url, _) = serve(
            sample(),
            Arc::new(|_, start, stream, body| {
                announce(stream, start, body, 0);
                for byte in &body[start as usize..] {
                    std::thread::sleep(Duration::from_millis(50));
                    if stream.write_all(&[*byte]).is_err() {
                        return; // the client gave up on this attempt
                    }
                }
            }),
        );
        let min_progress = MinProgress { bytes: 1000, window: Duration::from_millis(400) };
        let policy = RetryPolicy { min_progress, max_attempts: 2, ..fast() };
        let error = download(url, None, policy).unwrap_err().to_string();
        assert!(error.contains("under the minimum of 1000 bytes per 400ms (--download-min-progress)"), "{error}");
    }

    #[test]
    fn a_little_progress_per_connection_does_not_reset_the_retries() {
        // Each connection delivers 10 bytes and drops: 20,000 connections to the end, unless a
        // little progress stops counting as progress.
        let (url, ranges) = serve(sample(), Arc::new(|_, start, stream, body| announce(stream, start, body, 10)));
        let policy = RetryPolicy { max_attempts: 3, ..fast() };
        let mut blob =
            ResumableBlob::new(http_agent(&policy, None), Box::new(Fixed(url)), "blob sha256:test", None, policy);
        let error = blob.read_to_end(&mut Vec::new()).unwrap_err().to_string();
        assert!(error.contains("3 attempts failed in a row") && error.contains("at byte 30"), "{error}");
        // Given up is given up: reading on fails alike, without another attempt.
        assert_eq!(blob.read(&mut [0; 10]).unwrap_err().to_string(), error);
        assert_eq!(ranges.lock().unwrap().len(), 3);
    }

    #[test]
    fn dripping_over_reconnections_ends_at_the_deadline() {
        // Each connection delivers enough to count as progress, slowly, then drops.
        let (url, _) = serve(
            sample(),
            Arc::new(|_, start, stream, body| {
                announce(stream, start, body, 2000);
                std::thread::sleep(Duration::from_millis(100));
            }),
        );
        let min_progress = MinProgress { bytes: 1000, window: Duration::from_secs(10) };
        let policy = RetryPolicy { min_progress, deadline: Duration::from_secs(1), ..fast() };
        let started = Instant::now();
        let error = download(url, None, policy).unwrap_err().to_string();
        assert!(error.contains("the 1s download deadline passed (--download-deadline)"), "{error}");
        assert!(started.elapsed() < Duration::from_secs(10), "ends near the deadline");
    }

    #[test]
    fn a_retry_after_beyond_the_deadline_gives_up_at_once() {
        let (url, ranges) = serve(
            sample(),
            Arc::new(|_, _, stream, _| respond(stream, "429 Too Many Requests", "Retry-After: 86400\r\n", b"")),
        );
        let started = Instant::now();
        let error = download(url, None, fast()).unwrap_err().to_string();
        assert!(
            error.contains("asked to wait 86400s before retrying (Retry-After)")
                && error.contains("--download-deadline"),
            "{error}"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(ranges.lock().unwrap().len(), 1);
    }
}
