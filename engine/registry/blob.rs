//! Downloading one blob over HTTP as a plain `Read`, surviving what networks do to long downloads:
//! a connection dropped mid-body resumes with a Range request, throttling and server errors are
//! retried with bounded exponential backoff, and an expired URL or token is asked for again.
//! The caller verifies the digest (see `digest::VerifyingReader`): this reader only moves bytes.

use anyhow::Result;
use std::io::{self, Read};
use std::time::Duration;

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

/// How hard to try before giving up on a blob.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Consecutive failed attempts (without a byte of progress between them) before giving up.
    pub max_attempts: u32,
    /// The first backoff; doubled on each consecutive failure up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// A server's `Retry-After` is honoured up to this long.
    pub max_retry_after: Duration,
}

impl RetryPolicy {
    /// Retries after the first attempt when `--download-retries` is not given.
    pub const DEFAULT_RETRIES: u32 = 7;

    /// The default policy allowing `retries` attempts after the first (`--download-retries`).
    pub fn with_retries(retries: u32) -> RetryPolicy {
        RetryPolicy { max_attempts: retries.saturating_add(1), ..RetryPolicy::default() }
    }

    /// How long to wait after the `failures`-th consecutive failure: the server's `Retry-After`
    /// when it gave one, else exponential backoff.
    pub fn delay(&self, failures: u32, retry_after: Option<Duration>) -> Duration {
        match retry_after {
            Some(asked) => asked.min(self.max_retry_after),
            None => self.initial_backoff.saturating_mul(1 << failures.saturating_sub(1).min(16)).min(self.max_backoff),
        }
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: Self::DEFAULT_RETRIES + 1,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(20),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

/// The HTTP agent blob downloads (and registry calls) use: statuses are inspected, not turned
/// into errors; bodies are asked for unencoded so Range offsets count blob bytes; a stalled
/// connection times out instead of hanging the scan. Redirects keep ureq's default of never
/// forwarding `Authorization`, so credentials never reach a storage backend.
pub fn http_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .accept_encoding("identity")
        .user_agent(concat!("ecr-engine/", env!("CARGO_PKG_VERSION")))
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(120)))
        .timeout_per_read(Some(Duration::from_secs(120)))
        .build()
        .new_agent()
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
    /// Failed attempts since the last byte of progress.
    failures: u32,
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
        }
    }

    /// Opens the body at `self.position`, retrying until it streams or the policy gives up.
    fn open(&mut self) -> io::Result<()> {
        let mut refresh = false;
        let mut refreshed = false;
        loop {
            let request = self
                .source
                .request(refresh)
                .map_err(|e| io::Error::other(format!("{}: cannot get the download URL: {e:#}", self.what)))?;
            self.host = url_host(&request.url);
            let mut call = self.agent.get(&request.url);
            for (name, value) in &request.headers {
                call = call.header(name, value);
            }
            if self.position > 0 {
                call = call.header("Range", format!("bytes={}-", self.position));
            }
            let response = match call.call() {
                Ok(response) => response,
                Err(error) if transient(&error) => {
                    self.back_off(format!("the request failed: {error}"), None)?;
                    continue;
                }
                Err(error) => return Err(self.give_up(format!("the request failed: {error}"))),
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
                                self.back_off(format!("the connection failed: {error}"), None)?;
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

    /// Records a failed attempt and sleeps before the next, or gives up when the policy is spent.
    fn back_off(&mut self, reason: String, retry_after: Option<Duration>) -> io::Result<()> {
        self.body = None;
        self.failures += 1;
        if self.failures >= self.policy.max_attempts {
            return Err(self.give_up(format!("{}; the last: {reason}", attempts_spent(self.failures))));
        }
        std::thread::sleep(self.policy.delay(self.failures, retry_after));
        Ok(())
    }

    fn give_up(&self, reason: String) -> io::Error {
        io::Error::other(format!(
            "{}: download from {} failed at byte {}: {reason}",
            self.what, self.host, self.position
        ))
    }
}

impl Read for ResumableBlob {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.body.is_none() {
                if self.expected_size.is_some_and(|size| self.position >= size) {
                    return Ok(0);
                }
                self.open()?;
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
                    self.failures = 0;
                    return Ok(n);
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => self.back_off(format!("the connection failed mid-body: {error}"), None)?,
            }
        }
    }
}

/// Why a download stopped retrying, saying how to try longer.
pub(crate) fn attempts_spent(failures: u32) -> String {
    format!("{failures} attempts failed in a row (--download-retries allows more)")
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
        let mut blob = ResumableBlob::new(http_agent(), Box::new(Fixed(url)), "blob sha256:test", size, policy);
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
        let mut blob = ResumableBlob::new(http_agent(), Box::new(source), "layer sha256:test", None, fast());
        let mut out = Vec::new();
        blob.read_to_end(&mut out).unwrap();
        assert_eq!(out, body);
        assert_eq!((*refreshes.lock().unwrap(), ranges.lock().unwrap().len()), (1, 2));

        // Refused again with a fresh URL: give up, naming the blob and the host, not the URL's query.
        let (url, _) = serve(body, Arc::new(|_, _, stream, _| respond(stream, "403 Forbidden", "", b"denied")));
        let source = Expiring { url, refreshes: Arc::new(Mutex::new(0)) };
        let mut blob = ResumableBlob::new(http_agent(), Box::new(source), "layer sha256:test", None, fast());
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
        assert_eq!(RetryPolicy::default().delay(1, far), RetryPolicy::default().max_retry_after);
        assert_eq!(RetryPolicy::with_retries(1).max_attempts, 2);
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
}
