//! moto (pinned) as a real STS + ECR server on 127.0.0.1, extended by
//! `tests/emulators/moto_ecr.py` with layer bytes and GetDownloadUrlForLayer; and pushing test
//! images into it through the real ECR upload API (aws-sdk-ecr).

use super::image::{ImageBlobs, sha256_digest};
use aws_sdk_ecr::primitives::Blob;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// moto's last release on PyPI when this was written (`[server]` brings its HTTP server) and
/// every package it pulls in, each pinned with its hashes (how to refresh: the file's header).
const MOTO_REQUIREMENTS: &str = include_str!("../emulators/moto-requirements.txt");

/// Credentials moto accepts (it checks none); region of the test registry.
pub const ACCESS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
pub const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
pub const REGION: &str = "us-east-1";
/// moto's default account.
pub const ACCOUNT: &str = "123456789012";

pub struct Moto {
    child: Child,
    pub endpoint: String,
    log: PathBuf,
    /// An empty ecr-engine AWS config file.
    config_file: PathBuf,
    _dir: tempfile::TempDir,
}

/// What the emulator's presigned-URL blob server does wrong on purpose.
#[derive(Debug, Default, Clone, Copy)]
pub struct BlobFaults {
    /// The first presigned URL of each blob is issued already expired.
    pub expire_first: bool,
    /// The first this-many blob downloads (of the whole run) are answered 503.
    pub unavailable_first: usize,
}

impl Moto {
    /// Starts the emulator; `url_ttl` is how long its presigned URLs stay valid.
    pub fn start(url_ttl: Duration) -> Moto {
        Moto::start_with(url_ttl, BlobFaults::default())
    }

    /// With the blob server's presigned URLs failing as `faults` says.
    pub fn start_with(url_ttl: Duration, faults: BlobFaults) -> Moto {
        let python = super::venv::python(
            "moto-venv",
            &[super::venv::Requirements { text: MOTO_REQUIREMENTS, pip_args: &["--require-hashes"] }],
        )
        .unwrap_or_else(|e| panic!("cannot set up moto (python3-venv and PyPI are needed): {e}"));
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("moto.log");
        let config_file = dir.path().join("aws.json");
        std::fs::write(&config_file, "{}").unwrap();
        let launcher = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/emulators/moto_ecr.py");
        let child = Command::new(python)
            .arg(launcher)
            .env("ECR_EMULATOR_URL_TTL", url_ttl.as_secs_f64().to_string())
            .env("ECR_EMULATOR_EXPIRE_FIRST", if faults.expire_first { "1" } else { "0" })
            .env("ECR_EMULATOR_UNAVAILABLE_FIRST", faults.unavailable_first.to_string())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(dir.path().join("moto.err")).unwrap())
            .spawn()
            .expect("start the moto launcher");
        let mut moto = Moto { child, endpoint: String::new(), log, config_file, _dir: dir };
        // The launcher binds a free port itself and says which once it accepts connections.
        let deadline = Instant::now() + Duration::from_secs(90);
        let port = loop {
            if let Some(port) = moto.said_port("moto on port ") {
                break port;
            }
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("moto exited ({status}): {}", moto.stderr());
            }
            assert!(Instant::now() < deadline, "moto did not say its port within 90 s: {}", moto.stderr());
            std::thread::sleep(Duration::from_millis(100));
        };
        moto.endpoint = format!("http://127.0.0.1:{port}");
        moto
    }

    /// The port in the launcher's line `prefix PORT`, once it has printed it.
    fn said_port(&self, prefix: &str) -> Option<u16> {
        let log = std::fs::read_to_string(&self.log).ok()?;
        log.lines().find_map(|l| l.strip_prefix(prefix)?.parse().ok())
    }

    /// The blob server's counters: downloads per digest, URLs issued, expired URLs refused.
    pub fn blob_stats(&self) -> serde_json::Value {
        let port = self.said_port("blob server on port ").unwrap_or_else(|| {
            panic!("the launcher did not say its blob port: {}", std::fs::read_to_string(&self.log).unwrap_or_default())
        });
        let body =
            ureq::get(&format!("http://127.0.0.1:{port}/stats")).call().unwrap().body_mut().read_to_string().unwrap();
        serde_json::from_str(&body).unwrap()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.log.with_file_name("moto.err")).unwrap_or_default()
    }

    /// An ECR client with moto's credentials.
    pub fn ecr(&self) -> aws_sdk_ecr::Client {
        let config = aws_sdk_ecr::Config::builder()
            .behavior_version(aws_sdk_ecr::config::BehaviorVersion::latest())
            .region(aws_sdk_ecr::config::Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .credentials_provider(aws_sdk_ecr::config::Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test"))
            .http_client(ecr_engine::aws::http_client())
            .build();
        aws_sdk_ecr::Client::from_conf(config)
    }

    /// The environment the `ecr-engine` binary gets to reach this emulator (explicit keys).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("ECR_ENGINE_ENDPOINT_URL", self.endpoint.clone()),
            ("ECR_ENGINE_REGION", REGION.to_string()),
            ("ECR_ENGINE_ACCESS_KEY_ID", ACCESS_KEY.to_string()),
            ("ECR_ENGINE_SECRET_ACCESS_KEY", SECRET_KEY.to_string()),
            // No config file of the user's may leak in.
            ("ECR_ENGINE_AWS_CONFIG", self.config_file.display().to_string()),
        ]
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// Pushes an image the way `docker push` does with ECR's API: each blob (config and layers)
/// through InitiateLayerUpload / UploadLayerPart (in parts of at most `part_size` bytes) /
/// CompleteLayerUpload, then PutImage with the manifest under `tag`. Returns the image digest.
pub async fn push(ecr: &aws_sdk_ecr::Client, repository: &str, image: &ImageBlobs, tag: &str) -> String {
    for (digest, bytes) in image.blobs() {
        upload_blob(ecr, repository, &digest, bytes).await;
    }
    put_manifest(ecr, repository, &image.manifest, &image.built.manifest_media_type, Some(tag)).await
}

pub async fn upload_blob(ecr: &aws_sdk_ecr::Client, repository: &str, digest: &str, bytes: &[u8]) {
    let upload = ecr.initiate_layer_upload().repository_name(repository).send().await.expect("InitiateLayerUpload");
    let upload_id = upload.upload_id().unwrap().to_string();
    let part_size = 64 * 1024;
    let mut first = 0usize;
    for part in bytes.chunks(part_size) {
        ecr.upload_layer_part()
            .repository_name(repository)
            .upload_id(&upload_id)
            .part_first_byte(first as i64)
            .part_last_byte((first + part.len() - 1) as i64)
            .layer_part_blob(Blob::new(part))
            .send()
            .await
            .expect("UploadLayerPart");
        first += part.len();
    }
    let done = ecr
        .complete_layer_upload()
        .repository_name(repository)
        .upload_id(&upload_id)
        .layer_digests(digest)
        .send()
        .await
        .expect("CompleteLayerUpload");
    assert_eq!(done.layer_digest(), Some(digest), "ECR computed another digest for the blob");
}

/// PutImage of one manifest under `tag`, or without one by its digest (as `docker buildx`
/// pushes the platform manifests an index lists). Returns the image digest.
pub async fn put_manifest(
    ecr: &aws_sdk_ecr::Client,
    repository: &str,
    manifest: &[u8],
    media_type: &str,
    tag: Option<&str>,
) -> String {
    let text = String::from_utf8(manifest.to_vec()).unwrap();
    let call = ecr.put_image().repository_name(repository).image_manifest(&text).image_manifest_media_type(media_type);
    let call = match tag {
        Some(tag) => call.image_tag(tag),
        None => call.image_digest(sha256_digest(manifest)),
    };
    let put = call.send().await.expect("PutImage");
    let digest = put.image().and_then(|i| i.image_id()).and_then(|i| i.image_digest()).unwrap().to_string();
    assert_eq!(digest, sha256_digest(manifest), "the emulator's image digest is the manifest's sha256");
    digest
}
