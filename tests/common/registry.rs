//! Real registries on 127.0.0.1 for the registry tests: Debian's `docker-registry` (the CNCF
//! distribution server) with filesystem storage in a temp dir, optionally behind htpasswd Basic
//! auth; images pushed into it by `skopeo copy`; and a loopback front that sits between the
//! scanner and the registry to play a Bearer token service or inject network faults. For servers
//! that misbehave in ways no real registry would (stall, trickle, send the scanner elsewhere), a
//! `StaticRegistry` serves one in-memory image and lets the test answer any request itself.

use super::image::ImageBlobs;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Registry {
    child: Child,
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// Starts `docker-registry`; with `user`, only that user (bcrypt htpasswd) may push and pull.
    pub fn start(user: Option<(&str, &str)>) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        // Port 0: the registry binds a free port itself and logs it (at level info), so no other
        // process can take the port between choosing and binding it.
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: 127.0.0.1:0\n",
            dir.path().join("data").display()
        );
        if let Some((name, password)) = user {
            let out = Command::new("htpasswd")
                .args(["-Bbn", name, password])
                .output()
                .expect("htpasswd (Debian package apache2-utils; scripts/test installs it)");
            assert!(out.status.success(), "htpasswd: {}", String::from_utf8_lossy(&out.stderr));
            std::fs::write(dir.path().join("htpasswd"), out.stdout).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: ecr-engine-test\n    path: {}\n",
                dir.path().join("htpasswd").display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log_path = dir.path().join("registry.log");
        let mut child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_path).unwrap())
            .spawn()
            .expect("docker-registry (Debian package docker-registry; scripts/test installs it)");
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = loop {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            if let Some(addr) = listening_addr(&log) {
                break addr;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("docker-registry exited ({status}): {log}");
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("docker-registry did not say where it listens within 30 s: {log}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Registry { child, addr, _dir: dir }
    }

    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Uploads an image archive with skopeo (real blob uploads); `all` copies every platform of
    /// an index. Returns the pushed manifest's digest as the registry reports it.
    pub fn push(&self, archive: &Path, repo_tag: &str, creds: Option<(&str, &str)>, all: bool) -> String {
        let destination = format!("docker://{}/{repo_tag}", self.host());
        let mut command = Command::new("skopeo");
        command.args(["copy", "--quiet", "--dest-tls-verify=false"]);
        if all {
            command.arg("--all");
        }
        if let Some((user, password)) = creds {
            command.arg("--dest-creds").arg(format!("{user}:{password}"));
        }
        let out = command.arg(format!("oci-archive:{}", archive.display())).arg(&destination).output().expect("skopeo");
        assert!(out.status.success(), "skopeo copy to {destination}: {}", String::from_utf8_lossy(&out.stderr));
        self.digest(repo_tag, creds)
    }

    /// The digest skopeo reads for a reference (of the index, for multi-platform images).
    pub fn digest(&self, repo_tag: &str, creds: Option<(&str, &str)>) -> String {
        let mut command = Command::new("skopeo");
        command.args(["inspect", "--raw", "--tls-verify=false"]);
        if let Some((user, password)) = creds {
            command.arg("--creds").arg(format!("{user}:{password}"));
        }
        let out = command.arg(format!("docker://{}/{repo_tag}", self.host())).output().expect("skopeo");
        assert!(out.status.success(), "skopeo inspect: {}", String::from_utf8_lossy(&out.stderr));
        super::image::sha256_digest(&out.stdout)
    }
}

/// The address in the registry's `msg="listening on 127.0.0.1:PORT"` log line, logged once bound.
fn listening_addr(log: &str) -> Option<SocketAddr> {
    log.lines().find_map(|line| line.split("msg=\"listening on ").nth(1)?.split('"').next()?.parse().ok())
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the front does to the traffic it forwards.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Forward unchanged.
    None,
    /// Require `Authorization: Bearer` tokens, issued at `/token` for these Basic credentials
    /// (GET), or for the identity token `REFRESH_TOKEN` (OAuth2 POST, grant_type=refresh_token).
    Bearer { user: String, password: String },
    /// Cut the connection halfway through the first response for this blob.
    DropOnce { blob: String },
    /// Answer this many blob requests with 429 (Retry-After: 1) and 503, alternately, first.
    Throttle { times: usize },
    /// Answer this many blob requests with 503 first.
    Unavailable { times: usize },
    /// Flip one byte in the middle of every response for this blob.
    Corrupt { blob: String },
}

/// The identity token (OAuth2 refresh token) the Bearer front's token service accepts.
pub const REFRESH_TOKEN: &str = "test-refresh-token";

/// One request as the front saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub range: Option<String>,
    pub authorization: Option<String>,
    pub status: u16,
}

/// A loopback HTTP/1.1 front for a registry, one thread per connection.
pub struct Front {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub tokens_issued: Arc<AtomicUsize>,
}

struct FrontState {
    upstream: SocketAddr,
    fault: Fault,
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    tokens_issued: Arc<AtomicUsize>,
    faults_left: AtomicUsize,
}

impl Front {
    pub fn start(upstream: &Registry, fault: Fault) -> Front {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let faults_left = match &fault {
            Fault::Throttle { times } | Fault::Unavailable { times } => *times,
            Fault::DropOnce { .. } => 1,
            _ => 0,
        };
        let state = Arc::new(FrontState {
            upstream: upstream.addr,
            fault,
            addr,
            seen: Arc::new(Mutex::new(Vec::new())),
            tokens_issued: Arc::new(AtomicUsize::new(0)),
            faults_left: AtomicUsize::new(faults_left),
        });
        let front = Front { addr, seen: state.seen.clone(), tokens_issued: state.tokens_issued.clone() };
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let state = state.clone();
                std::thread::spawn(move || {
                    let _ = state.serve(stream);
                });
            }
        });
        front
    }

    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

type Headers = Vec<(String, String)>;

/// One HTTP request as a loopback server read it.
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Headers,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Where a `Range: bytes=START-` request starts (0 without one).
    pub fn range_start(&self) -> u64 {
        self.header("range")
            .and_then(|range| range.strip_prefix("bytes="))
            .and_then(|range| range.trim_end_matches('-').parse().ok())
            .unwrap_or(0)
    }
}

fn read_request(reader: &mut impl BufRead) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let length = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request { method, path, headers, body })
}

/// Sends a whole response.
pub fn respond(stream: &mut TcpStream, status: u16, headers: &[(String, String)], body: &[u8]) -> std::io::Result<()> {
    write_head(stream, status, body.len(), headers)?;
    stream.write_all(body)?;
    stream.flush()
}

/// Sends a response's status line and headers announcing `content_length` body bytes, for a
/// test that sends (or withholds) the body its own way.
pub fn write_head(
    stream: &mut TcpStream,
    status: u16,
    content_length: usize,
    headers: &[(String, String)],
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} X\r\nContent-Length: {content_length}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.flush()
}

impl FrontState {
    fn serve(&self, stream: TcpStream) -> std::io::Result<()> {
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut stream = stream;
        while let Some(request) = read_request(&mut reader) {
            let status = self.answer(&request, &mut stream)?;
            self.seen.lock().unwrap().push(Seen {
                path: request.path.clone(),
                range: request.header("range").map(str::to_string),
                authorization: request.header("authorization").map(str::to_string),
                status,
            });
            if status == 0 {
                return Ok(()); // connection dropped on purpose
            }
        }
        Ok(())
    }

    fn is_blob(&self, request: &Request, blob: &str) -> bool {
        request.path.contains("/blobs/") && request.path.ends_with(blob)
    }

    /// Answers one request; returns the status sent, 0 for a dropped connection.
    fn answer(&self, request: &Request, stream: &mut TcpStream) -> std::io::Result<u16> {
        if let Fault::Bearer { user, password } = &self.fault {
            if request.path.starts_with("/token") {
                let expected = format!("Basic {}", base64_encode(format!("{user}:{password}").as_bytes()));
                let form = String::from_utf8_lossy(&request.body).into_owned();
                let refreshed = request.method == "POST"
                    && form.split('&').any(|field| field == "grant_type=refresh_token")
                    && form.split('&').any(|field| field == format!("refresh_token={REFRESH_TOKEN}"));
                if !refreshed && request.header("authorization") != Some(expected.as_str()) {
                    respond(stream, 401, &[], b"{\"details\":\"incorrect username or password\"}")?;
                    return Ok(401);
                }
                let n = self.tokens_issued.fetch_add(1, Ordering::SeqCst) + 1;
                // OAuth2 answers name it access_token; the Docker token protocol, token.
                let body = if refreshed {
                    format!("{{\"access_token\":\"test-token-{n}\",\"expires_in\":300}}")
                } else {
                    format!("{{\"token\":\"test-token-{n}\",\"expires_in\":300}}")
                };
                respond(stream, 200, &[("Content-Type".into(), "application/json".into())], body.as_bytes())?;
                return Ok(200);
            }
            let valid = request
                .header("authorization")
                .and_then(|a| a.strip_prefix("Bearer test-token-"))
                .and_then(|n| n.parse::<usize>().ok())
                .is_some_and(|n| n >= 1 && n <= self.tokens_issued.load(Ordering::SeqCst));
            if !valid {
                let challenge = format!(
                    "Bearer realm=\"http://{}/token\",service=\"ecr-engine-test\",scope=\"repository:any:pull\"",
                    self.addr
                );
                respond(
                    stream,
                    401,
                    &[("WWW-Authenticate".into(), challenge)],
                    b"{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}",
                )?;
                return Ok(401);
            }
        }
        if let Fault::Throttle { .. } | Fault::Unavailable { .. } = &self.fault
            && request.path.contains("/blobs/")
        {
            let left = self.faults_left.load(Ordering::SeqCst);
            if left > 0 && self.faults_left.compare_exchange(left, left - 1, Ordering::SeqCst, Ordering::SeqCst).is_ok()
            {
                if matches!(self.fault, Fault::Throttle { .. }) && left.is_multiple_of(2) {
                    respond(
                        stream,
                        429,
                        &[("Retry-After".into(), "1".into())],
                        b"{\"errors\":[{\"code\":\"TOOMANYREQUESTS\"}]}",
                    )?;
                    return Ok(429);
                }
                respond(stream, 503, &[], b"upstream busy")?;
                return Ok(503);
            }
        }
        let (status, headers, mut body) = self.forward(request)?;
        match &self.fault {
            Fault::DropOnce { blob }
                if self.is_blob(request, blob)
                    && status == 200
                    && self.faults_left.compare_exchange(1, 0, Ordering::SeqCst, Ordering::SeqCst).is_ok() =>
            {
                // Announce the whole body, send half, close.
                write_head(stream, 200, body.len(), &headers)?;
                stream.write_all(&body[..body.len() / 2])?;
                stream.flush()?;
                stream.shutdown(std::net::Shutdown::Both)?;
                return Ok(0);
            }
            Fault::Corrupt { blob } if self.is_blob(request, blob) && !body.is_empty() => {
                let middle = body.len() / 2;
                body[middle] ^= 0x55;
            }
            _ => {}
        }
        if request.method == "HEAD" {
            body.clear();
        }
        respond(stream, status, &headers, &body)?;
        Ok(status)
    }

    /// Sends the request on to the registry (without the front's Authorization) and reads the
    /// whole answer.
    fn forward(&self, request: &Request) -> std::io::Result<(u16, Headers, Vec<u8>)> {
        let mut upstream = TcpStream::connect(self.upstream)?;
        // HTTP/1.0: the registry answers unchunked and closes, so the body is everything after the head.
        let mut head = format!("{} {} HTTP/1.0\r\nHost: {}\r\n", request.method, request.path, self.upstream);
        for (name, value) in &request.headers {
            let lower = name.to_ascii_lowercase();
            let keep = match self.fault {
                Fault::Bearer { .. } => !matches!(lower.as_str(), "host" | "connection" | "authorization"),
                _ => !matches!(lower.as_str(), "host" | "connection"),
            };
            if keep {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        head.push_str("\r\n");
        upstream.write_all(head.as_bytes())?;
        let mut reader = BufReader::new(upstream);
        let mut status_line = String::new();
        reader.read_line(&mut status_line)?;
        let status: u16 = status_line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(502);
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line)?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                let lower = name.trim().to_ascii_lowercase();
                if !matches!(lower.as_str(), "content-length" | "connection" | "transfer-encoding") {
                    headers.push((name.trim().to_string(), value.trim().to_string()));
                }
            }
        }
        let mut body = Vec::new();
        if request.method != "HEAD" {
            reader.read_to_end(&mut body)?;
        }
        Ok((status, headers, body))
    }
}

/// How a `StaticRegistry` test answers a request itself: true when it did, false to let the
/// registry serve it.
pub type Answer = dyn Fn(&Request, &mut TcpStream) -> std::io::Result<bool> + Send + Sync;

/// A minimal OCI Distribution server on 127.0.0.1 holding one image in memory, one thread per
/// connection: anonymous `/v2/`, the manifest (by any tag or its digest) and the blobs of every
/// repository name. `answer` sees each request first.
pub struct StaticRegistry {
    pub addr: SocketAddr,
    /// Requests received, in order (method and path).
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl StaticRegistry {
    pub fn start(
        image: &ImageBlobs,
        answer: impl Fn(&Request, &mut TcpStream) -> std::io::Result<bool> + Send + Sync + 'static,
    ) -> StaticRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let mut blobs: Vec<(String, Vec<u8>)> = image.blobs().into_iter().map(|(d, b)| (d, b.to_vec())).collect();
        blobs.push((image.built.manifest_digest.clone(), image.manifest.clone()));
        let state = Arc::new((blobs, image.built.manifest_media_type.clone(), Box::new(answer) as Box<Answer>));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (state, seen) = (state.clone(), seen.clone());
                std::thread::spawn(move || {
                    let (blobs, manifest_type, answer) = &*state;
                    let mut reader = BufReader::new(stream.try_clone()?);
                    let mut stream = stream;
                    while let Some(request) = read_request(&mut reader) {
                        seen.lock().unwrap().push(format!("{} {}", request.method, request.path));
                        if answer(&request, &mut stream)? {
                            continue;
                        }
                        serve_image(&request, &mut stream, blobs, manifest_type)?;
                    }
                    std::io::Result::Ok(())
                });
            }
        });
        StaticRegistry { addr, requests }
    }

    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// The registry side of `StaticRegistry`: `/v2/`, then manifests and blobs by name.
fn serve_image(
    request: &Request,
    stream: &mut TcpStream,
    blobs: &[(String, Vec<u8>)],
    manifest_type: &str,
) -> std::io::Result<()> {
    if request.path == "/v2/" {
        return respond(stream, 200, &[], b"{}");
    }
    let name = request.path.rsplit('/').next().unwrap_or_default();
    let is_manifest = request.path.contains("/manifests/");
    // The image's only manifest answers every tag.
    let found = blobs
        .iter()
        .find(|(digest, _)| digest == name)
        .or_else(|| if is_manifest && !name.starts_with("sha256:") { blobs.last() } else { None });
    match found {
        Some((digest, bytes)) => {
            let mut headers = vec![("Docker-Content-Digest".to_string(), digest.clone())];
            if is_manifest {
                headers.push(("Content-Type".to_string(), manifest_type.to_string()));
            }
            respond(stream, 200, &headers, bytes)
        }
        None => respond(stream, 404, &[], b"{\"errors\":[{\"code\":\"BLOB_UNKNOWN\"}]}"),
    }
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
