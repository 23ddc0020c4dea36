//! Servers that decide how long a scan takes, or where it connects: a registry that trickles a
//! layer, one that drips it over reconnections, one that asks to be retried tomorrow, and token
//! realms and redirects that point at the cloud metadata service. Every server is a
//! `StaticRegistry` on 127.0.0.1; the refused addresses are never connected to (the refusal comes
//! before any connection), so these tests need no network.
//!
//! The limits are set to seconds through the flags; the time bounds asserted are loose (the scan
//! ends, well before it would have without the limit), not measurements.

use crate::common::cli::{self, ScanResult};
use crate::common::image::*;
use crate::common::registry::{Request, StaticRegistry, respond, write_head};
use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Layer 0 holds a dpkg database (its package must still be reported when layer 1 fails);
/// layer 1 is 256 KiB uncompressed, the one the servers misbehave on.
fn image() -> ImageBlobs {
    let spec = ImageSpec::new(vec![
        Layer::gzip(vec![
            Entry::file("etc/os-release", os_release("debian", "12", "Debian GNU/Linux 12 (bookworm)")),
            Entry::file(
                "var/lib/dpkg/status",
                dpkg_status_stanza("zlib1g", "1:1.2.13.dfsg-1", "amd64", None, "install ok installed"),
            ),
        ]),
        Layer::plain(vec![Entry::file("opt/data.bin", vec![7u8; 256 << 10])]),
    ]);
    build_image(&spec, ManifestFormat::Oci)
}

/// Whether `request` fetches layer 1 of `image`.
/// A registry serving `image`, except that requests for its second layer's blob get `answer`
/// (with that blob's bytes) instead.
fn serve_slow_layer(
    image: &ImageBlobs,
    answer: impl Fn(&Request, &mut TcpStream, &[u8]) -> std::io::Result<()> + Send + Sync + 'static,
) -> StaticRegistry {
    let blob = image.layers[1].clone();
    let slow_path = format!("/blobs/{}", image.built.layer_digests[1]);
    StaticRegistry::start(image, move |request, stream| {
        if !request.path.ends_with(&slow_path) {
            return Ok(false);
        }
        answer(request, stream, &blob)?;
        Ok(true)
    })
}

/// Scans `app:1.0` from the registry over plain HTTP with `flags`, timing it.
fn scan(registry: &StaticRegistry, flags: &[&str]) -> (ScanResult, Duration) {
    let started = Instant::now();
    let target = format!("{}/team/app:1.0", registry.host());
    let result = cli::scan(&target, &[&["--insecure"], flags].concat());
    (result, started.elapsed())
}

/// Layer 1's failure is reported, naming the blob and the registry, with what was read from layer
/// 0 kept: the report is incomplete (exit 3).
fn assert_layer_failed(result: &ScanResult, image: &ImageBlobs, registry: &StaticRegistry) -> String {
    assert_eq!(result.code, 3, "incomplete report expected; stderr: {}", result.stderr);
    assert_eq!(result.report["complete"], false);
    assert_eq!(result.packages(), vec![("zlib1g".to_string(), "1:1.2.13.dfsg-1".to_string())]);
    let errors = result.errors();
    assert!(errors.contains(&image.built.layer_digests[1]), "{errors}");
    assert!(errors.contains(&format!("download from {}", registry.host())), "{errors}");
    errors
}

/// Answers a blob request from where it asks to resume (200 from the start, 206 with
/// Content-Range after a dropped connection); returns that offset.
fn write_ranged_head(request: &Request, stream: &mut TcpStream, blob: &[u8]) -> std::io::Result<usize> {
    let start = request.range_start() as usize;
    let status = if start == 0 { 200 } else { 206 };
    let range = format!("bytes {start}-{}/{}", blob.len() - 1, blob.len());
    write_head(stream, status, blob.len() - start, &[("Content-Range".into(), range)])?;
    Ok(start)
}

#[test]
fn a_registry_trickling_a_layer_breaks_the_minimum_progress_rule() {
    let image = image();
    // One byte a second, resuming where asked, for as long as the scanner listens.
    let registry = serve_slow_layer(&image, |request, stream, blob| {
        let start = write_ranged_head(request, stream, blob)?;
        for byte in &blob[start..] {
            stream.write_all(&[*byte])?;
            std::thread::sleep(Duration::from_secs(1));
        }
        Ok(())
    });
    let flags = ["--download-min-progress", "1K/2s", "--download-idle-timeout", "2s", "--download-retries", "1"];
    let (result, took) = scan(&registry, &flags);
    let errors = assert_layer_failed(&result, &image, &registry);
    assert!(errors.contains("under the minimum of 1024 bytes per 2s (--download-min-progress)"), "{errors}");
    assert!(errors.contains("2 attempts failed in a row"), "{errors}");
    // Two attempts of a 2 s window each; the trickle alone would take three days.
    assert!(took < Duration::from_secs(30), "took {took:?}");
}

#[test]
fn a_registry_that_stalls_ends_at_the_idle_timeout() {
    let image = image();
    // Headers and a few bytes, then silence with the connection held open.
    let registry = serve_slow_layer(&image, |_, stream, blob| {
        write_head(stream, 200, blob.len(), &[])?;
        stream.write_all(&blob[..100])?;
        std::thread::sleep(Duration::from_secs(60));
        Ok(())
    });
    let (result, took) = scan(&registry, &["--download-idle-timeout", "2s", "--download-retries", "1"]);
    let errors = assert_layer_failed(&result, &image, &registry);
    assert!(errors.contains("no byte arrived for 2s (--download-idle-timeout)"), "{errors}");
    assert!(took < Duration::from_secs(30), "took {took:?}");
}

#[test]
fn a_registry_dripping_over_reconnections_ends_at_the_deadline() {
    let image = image();
    // 4 KiB per connection (enough to count as progress), then a pause and a dropped connection:
    // the whole layer would take over 30 s and then pass, as it did before the deadline existed.
    let registry = serve_slow_layer(&image, |request, stream, blob| {
        let start = write_ranged_head(request, stream, blob)?;
        stream.write_all(&blob[start..(start + 4096).min(blob.len())])?;
        std::thread::sleep(Duration::from_millis(500));
        stream.shutdown(std::net::Shutdown::Both)?;
        Ok(())
    });
    let flags = ["--download-min-progress", "1K/10s", "--download-deadline", "3s"];
    let (result, took) = scan(&registry, &flags);
    let errors = assert_layer_failed(&result, &image, &registry);
    assert!(errors.contains("the 3s download deadline passed (--download-deadline)"), "{errors}");
    assert!(took < Duration::from_secs(25), "took {took:?}");
    let attempts = registry.requests().iter().filter(|r| r.contains(&image.built.layer_digests[1])).count();
    assert!(attempts > 2, "the drip reconnected several times before the deadline: {attempts}");
}

#[test]
fn a_retry_after_of_a_day_is_refused_at_once() {
    let image = image();
    let registry = serve_slow_layer(&image, |_, stream, _| {
        respond(
            stream,
            429,
            &[("Retry-After".into(), "86400".into())],
            b"{\"errors\":[{\"code\":\"TOOMANYREQUESTS\"}]}",
        )?;
        Ok(())
    });
    // No flags: the default deadline (30 minutes) is what the day is compared with.
    let (result, took) = scan(&registry, &[]);
    let errors = assert_layer_failed(&result, &image, &registry);
    assert!(errors.contains("the server asked to wait 86400s before retrying (Retry-After)"), "{errors}");
    assert!(errors.contains("of the 1800s download deadline (--download-deadline)"), "{errors}");
    assert!(took < Duration::from_secs(30), "took {took:?}");
}

/// A registry that answers every request with a Bearer challenge naming `realm`.
fn challenging(image: &ImageBlobs, realm: String) -> StaticRegistry {
    StaticRegistry::start(image, move |_, stream| {
        let challenge = format!("Bearer realm=\"{realm}\",service=\"registry\"");
        respond(stream, 401, &[("WWW-Authenticate".into(), challenge)], b"{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}")?;
        Ok(true)
    })
}

#[test]
fn metadata_token_realms_are_refused() {
    let image = image();
    for (realm, host, why) in [
        (
            "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
            "169.254.169.254",
            "the cloud instance metadata address",
        ),
        ("http://169.254.170.2/v2/credentials", "169.254.170.2", "a link-local address (169.254.0.0/16)"),
        ("http://[fd00:ec2::254]/token", "fd00:ec2::254", "AWS's IPv6 instance metadata address"),
        ("http://[fe80::1]:8080/token", "fe80::1", "a link-local address (fe80::/10)"),
        // Refused by its name, before any lookup.
        (
            "http://metadata.google.internal/computeMetadata/v1/token",
            "metadata.google.internal",
            "a cloud instance metadata service name",
        ),
    ] {
        let registry = challenging(&image, realm.to_string());
        let (result, took) = scan(&registry, &[]);
        assert_eq!(result.code, 1, "{realm}: {}", result.stderr);
        assert!(result.stderr.contains(&format!("cannot get a token from {realm}")), "{}", result.stderr);
        assert!(result.stderr.contains(&format!("refusing to connect to {host}: {why}")), "{}", result.stderr);
        assert!(result.stderr.contains("token realm, redirects and download URLs may not lead there"));
        // Refused at once: not retried as if the network had failed.
        assert!(took < Duration::from_secs(20), "{realm} took {took:?}");
    }
}

#[test]
fn a_redirect_to_the_metadata_service_is_refused() {
    let image = image();
    // Blob downloads are often redirected to storage; this one points at the metadata service.
    let registry = serve_slow_layer(&image, |_, stream, _| {
        let location = "http://169.254.169.254/latest/meta-data/iam/security-credentials/".to_string();
        respond(stream, 307, &[("Location".into(), location)], b"")?;
        Ok(())
    });
    let (result, took) = scan(&registry, &[]);
    let errors = assert_layer_failed(&result, &image, &registry);
    assert!(errors.contains("refusing to connect to 169.254.169.254: the cloud instance metadata address"), "{errors}");
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

#[test]
fn a_realm_on_another_loopback_host_is_still_followed() {
    // Realms on other hosts are followed, as the Docker client does: here a token service on a
    // second server. The registry then refuses the token (it challenges everything), which the
    // scan reports as access denied, after having fetched tokens from the realm.
    let image = image();
    let tokens = StaticRegistry::start(&image, |_, stream| {
        respond(stream, 200, &[], b"{\"token\":\"t\"}")?;
        Ok(true)
    });
    let registry = challenging(&image, format!("http://{}/token", tokens.host()));
    let (result, _) = scan(&registry, &[]);
    assert_eq!(result.code, 1, "{}", result.stderr);
    assert!(result.stderr.contains("access denied (HTTP 401) even with fresh credentials"), "{}", result.stderr);
    let asked = tokens.requests();
    assert!(!asked.is_empty() && asked.iter().all(|r| r.starts_with("GET /token?scope=")), "{asked:?}");
}
