//! Amazon ECR end to end against moto on 127.0.0.1 (see tests/common/moto.rs): the real
//! `ecr-engine` binary inventories repositories, tests the connection, assumes a role chain
//! with an External ID through moto's STS, and scans images pushed through ECR's upload API,
//! one by reference (a multi-platform index too) and all of a registry with `scan --all`.

mod common;

use common::cli;
use common::image::*;
use common::moto::{self, ACCOUNT, BlobFaults, Moto, REGION};
use serde_json::Value;
use std::process::Output;
use std::time::Duration;

fn ecr_engine(moto: &Moto, args: &[&str]) -> Output {
    ecr_command(moto).args(args).output().expect("run ecr-engine")
}

fn ecr_command(moto: &Moto) -> std::process::Command {
    let mut command = cli::command();
    for (name, value) in moto.env() {
        command.env(name, value);
    }
    command
}

fn image_uri(repository: &str, reference: &str) -> String {
    let separator = if reference.starts_with("sha256:") { "@" } else { ":" };
    format!("{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{repository}{separator}{reference}")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

fn small_image(marker: &str) -> ImageBlobs {
    let spec = ImageSpec::new(vec![Layer::gzip(vec![
        Entry::file("etc/os-release", os_release("debian", "12", "Debian GNU/Linux 12 (bookworm)")),
        Entry::file("var/lib/dpkg/status", dpkg_status_stanza(marker, "1.0-1", "amd64", None, "install ok installed")),
    ])]);
    build_image(&spec, ManifestFormat::Oci)
}

const PUBLIC_POLICY: &str = r#"{"Version": "2012-10-17", "Statement": [{"Sid": "pull",
    "Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": ["ecr:BatchGetImage"]}]}"#;

#[test]
fn repository_inventory_rows() {
    let moto = Moto::start(Duration::from_secs(3600));
    let ecr = moto.ecr();
    moto::runtime().block_on(async {
        ecr.create_repository()
            .repository_name("team/public-app")
            .image_tag_mutability(aws_sdk_ecr::types::ImageTagMutability::Immutable)
            .image_scanning_configuration(
                aws_sdk_ecr::types::ImageScanningConfiguration::builder().scan_on_push(true).build(),
            )
            .tags(aws_sdk_ecr::types::Tag::builder().key("team").value("payments").build().unwrap())
            .send()
            .await
            .unwrap();
        ecr.set_repository_policy().repository_name("team/public-app").policy_text(PUBLIC_POLICY).send().await.unwrap();
        ecr.create_repository().repository_name("private-app").send().await.unwrap();
        moto::push(&ecr, "private-app", &small_image("inventory"), "v1").await;
    });
    let output = ecr_engine(&moto, &["repos", "--format", "json", "--page-size", "1"]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(output.stderr.is_empty(), "a complete inventory: {}", text(&output));
    let rows: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(rows.len(), 2, "{rows:#?}");
    let row =
        |name: &str| rows.iter().find(|r| r["name"] == name).unwrap_or_else(|| panic!("no row {name}: {rows:#?}"));
    let public = row("team/public-app");
    assert_eq!(public["arn"], format!("arn:aws:ecr:{REGION}:{ACCOUNT}:repository/team/public-app"));
    assert_eq!(public["uid"], public["arn"]);
    assert_eq!(public["uri"], format!("{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/team/public-app"));
    assert_eq!(public["registry_id"], ACCOUNT);
    assert_eq!(public["image_tag_mutability"], "IMMUTABLE");
    assert_eq!(public["scan_on_push"], true);
    assert_eq!(public["encryption_type"], "AES256");
    assert_eq!(public["is_public"], true);
    assert!(public["policy_text"].as_str().unwrap().contains("ecr:BatchGetImage"), "{public:#}");
    assert_eq!(public["tags"]["team"], "payments");
    assert_eq!(public["cloud_provider"], "AWS");
    assert_eq!(public["region"], REGION);
    assert!(public["created_at"].as_str().unwrap().starts_with("20"), "{public:#}");
    let private = row("private-app");
    assert_eq!(private["is_public"], false);
    assert_eq!(private["policy_text"], Value::Null, "no policy is not an error");
    assert_eq!(private["image_tag_mutability"], "MUTABLE");
    assert_eq!(private["tags"], serde_json::json!({}));
    for row in &rows {
        assert_eq!(row["errors"], serde_json::json!([]), "{row:#}");
    }
    assert_eq!(public["last_captured"], private["last_captured"]);

    // The table, and two regions in one run (the second one empty).
    let output = ecr_engine(&moto, &["repos", "--regions", &format!("{REGION},eu-west-1")]);
    assert!(output.status.success(), "{}", text(&output));
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(
        table.contains("team/public-app") && table.contains("PUBLIC") && table.contains("team=payments"),
        "{table}"
    );
    assert!(table.contains("2 repositories"), "{table}");
}

#[test]
fn connection_test_passes_and_fails_with_the_reason() {
    let moto = Moto::start(Duration::from_secs(3600));
    let ecr = moto.ecr();
    moto::runtime().block_on(async {
        ecr.create_repository().repository_name("app").send().await.unwrap();
        moto::push(&ecr, "app", &small_image("conn"), "v1").await;
    });
    let output = ecr_engine(&moto, &["test-connection"]);
    let report = text(&output);
    assert!(output.status.success(), "{report}");
    for check in [
        "credentials",
        "ecr:DescribeRepositories",
        "ecr:ListImages",
        "ecr:DescribeImages",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
        "ecr:GetRepositoryPolicy",
        "ecr:ListTagsForResource",
        "ecr:GetAuthorizationToken",
    ] {
        assert!(report.lines().any(|l| l.starts_with("ok") && l.contains(check)), "{check} not ok:\n{report}");
    }
    assert!(report.contains("all checks passed"), "{report}");

    // Nothing listens there: the first step fails, says why, and the rest are skipped.
    let closed = format!("http://127.0.0.1:{}", closed_port());
    let output = ecr_engine(&moto, &["test-connection", "--endpoint-url", &closed, "--max-retries", "1"]);
    let report = text(&output);
    assert_eq!(output.status.code(), Some(1), "{report}");
    assert!(report.lines().any(|l| l.starts_with("FAIL") && l.contains("cannot reach STS")), "{report}");
    assert!(report.lines().any(|l| l.starts_with("skipped") && l.contains("ecr:BatchGetImage")), "{report}");
}

#[test]
fn role_chain_with_external_id() {
    let moto = Moto::start(Duration::from_secs(3600));
    let chain = "arn:aws:iam::111111111111:role/hub,arn:aws:iam::222222222222:role/ecr-readonly";
    let output = ecr_engine(
        &moto,
        &["test-connection", "--role-arn", chain, "--external-id", "customer-ext-id-42", "--format", "json"],
    );
    let steps: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&output)));
    let hop = |n: usize| {
        steps.iter().find(|s| s["check"].as_str().unwrap().starts_with(&format!("assume role {n} of 2"))).unwrap()
    };
    assert_eq!(hop(1)["status"], "ok", "{steps:#?}");
    assert!(hop(1)["detail"].as_str().unwrap().contains("assumed-role/hub/ecr-engine"), "{steps:#?}");
    assert_eq!(hop(2)["status"], "ok", "{steps:#?}");
    // The second hop is made with the first hop's temporary credentials, in the second account.
    assert!(
        hop(2)["detail"].as_str().unwrap().contains("222222222222:assumed-role/ecr-readonly/ecr-engine"),
        "{steps:#?}"
    );
    assert!(!text(&output).contains("customer-ext-id-42"), "the External ID is never printed");
    assert!(output.status.success(), "{}", text(&output));

    // `repos` signs with the chain's last hop: moto keeps each account's registry apart, so the
    // base account's repository is not listed and the one made in the second account is.
    let endpoint = moto.env().into_iter().find(|(name, _)| *name == "ECR_ENGINE_ENDPOINT_URL").unwrap().1;
    let chained = serde_json::json!({ "endpoint-url": endpoint, "region": REGION,
        "access-key-id": moto::ACCESS_KEY, "secret-access-key": moto::SECRET_KEY,
        "role-arn": chain, "external-id": "customer-ext-id-42" });
    let chained = serde_json::from_value::<ecr_engine::aws::AwsSettings>(chained).unwrap().resolve().unwrap();
    moto::runtime().block_on(async {
        moto.ecr().create_repository().repository_name("base-account-app").send().await.unwrap();
        let second_account = ecr_engine::aws::AwsSession::connect(chained).await.unwrap().ecr(REGION);
        second_account.create_repository().repository_name("chain-account-app").send().await.unwrap();
    });
    let output =
        ecr_engine(&moto, &["repos", "--role-arn", chain, "--external-id", "customer-ext-id-42", "--format", "json"]);
    assert!(output.status.success(), "{}", text(&output));
    let rows: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!((&rows[0]["name"], &rows[0]["registry_id"]), (&"chain-account-app".into(), &"222222222222".into()));
    assert!(!text(&output).contains("base-account-app") && !text(&output).contains("customer-ext-id-42"));

    let short = ecr_engine(&moto, &["repos", "--role-arn", chain, "--external-id", "short"]);
    assert_eq!(short.status.code(), Some(1));
    assert!(text(&short).contains("shorter than 8 characters"), "{}", text(&short));
}

fn base_layer() -> Layer {
    Layer::gzip(vec![
        Entry::file("etc/os-release", os_release("debian", "12", "Debian GNU/Linux 12 (bookworm)")),
        Entry::file(
            "var/lib/dpkg/status",
            [
                dpkg_status_stanza("libc6", "2.36-9+deb12u4", "amd64", Some("glibc"), "install ok installed"),
                dpkg_status_stanza("zlib1g", "1:1.2.13.dfsg-1", "amd64", Some("zlib"), "install ok installed"),
            ]
            .concat(),
        ),
    ])
}

fn app_layer(package: &str, version: &str) -> Layer {
    Layer::gzip(vec![Entry::file(
        &format!("usr/lib/node_modules/{package}/package.json"),
        format!(r#"{{"name": "{package}", "version": "{version}", "license": "MIT"}}"#),
    )])
}

/// The packages a scan of the same image from a local OCI layout finds.
fn local_packages(spec: &ImageSpec) -> Vec<(String, String)> {
    let dir = tempfile::tempdir().unwrap();
    write_oci_layout(&[(spec, Some("local"))], dir.path(), false);
    let local = cli::scan(&cli::target("oci", dir.path()), &[]);
    assert_eq!(local.code, 0, "{}", local.stderr);
    local.packages()
}

#[test]
fn scan_from_ecr_matches_the_local_scan() {
    let moto = Moto::start(Duration::from_secs(3600));
    let ecr = moto.ecr();
    let spec = ImageSpec::new(vec![base_layer(), app_layer("left-pad", "1.3.0")]);
    let oci = build_image(&spec, ManifestFormat::Oci);
    let docker = build_image(&spec, ManifestFormat::Docker);
    let (oci_digest, docker_digest) = moto::runtime().block_on(async {
        ecr.create_repository().repository_name("team/app").send().await.unwrap();
        (moto::push(&ecr, "team/app", &oci, "1.0").await, moto::push(&ecr, "team/app", &docker, "1.0-docker").await)
    });
    let expected = local_packages(&spec);
    assert!(expected.contains(&("libc6".into(), "2.36-9+deb12u4".into())) && expected.len() >= 3, "{expected:?}");
    for reference in ["1.0", oci_digest.as_str(), "1.0-docker", docker_digest.as_str()] {
        let scanned = cli::run_scan(ecr_command(&moto), &image_uri("team/app", reference), &[]);
        assert_eq!(scanned.code, 0, "{reference}: {} {}", scanned.stderr, scanned.errors());
        assert_eq!(scanned.packages(), expected, "{reference}");
    }

    // Each failure names the resource and the permission involved.
    let missing_tag = cli::run_scan(ecr_command(&moto), &image_uri("team/app", "nope"), &[]);
    assert_eq!(missing_tag.code, 1);
    assert!(
        missing_tag.stderr.contains("team/app:nope not found") && missing_tag.stderr.contains("ecr:BatchGetImage"),
        "{}",
        missing_tag.stderr
    );
    let missing_repo = cli::run_scan(ecr_command(&moto), &image_uri("no/such-repo", "1"), &[]);
    assert_eq!(missing_repo.code, 1);
    assert!(
        missing_repo.stderr.contains("repository no/such-repo") && missing_repo.stderr.contains("does not exist"),
        "{}",
        missing_repo.stderr
    );
}

/// A multi-platform image, as an OCI index and as a Docker manifest list: the two platforms'
/// manifests pushed untagged by digest, then the index over them under a tag. BatchGetImage
/// returns the index (asked for by tag and by digest) and then, by digest, the manifest of the
/// platform chosen.
#[test]
fn platform_is_chosen_from_an_index_in_ecr() {
    let moto = Moto::start(Duration::from_secs(3600));
    let ecr = moto.ecr();
    let amd64 = ImageSpec::new(vec![base_layer(), app_layer("only-on-amd64", "1.0.0")]);
    let arm64 = ImageSpec::new(vec![base_layer(), app_layer("only-on-arm64", "2.0.0")]);
    let arm64 = arm64.with_platform("linux", "arm64", Some("v8"));
    let (expected_amd64, expected_arm64) = (local_packages(&amd64), local_packages(&arm64));
    assert!(expected_arm64.contains(&("only-on-arm64".into(), "2.0.0".into())), "{expected_arm64:?}");
    assert!(!expected_arm64.contains(&("only-on-amd64".into(), "1.0.0".into())), "{expected_arm64:?}");
    for (format, repository, index_media_type) in [
        (ManifestFormat::Oci, "team/multi-oci", MT_OCI_INDEX),
        (ManifestFormat::Docker, "team/multi-docker", MT_DOCKER_LIST),
    ] {
        let images = [build_image(&amd64, format), build_image(&arm64, format)];
        let index = build_index(&[(&amd64, &images[0]), (&arm64, &images[1])], format);
        let index_digest = moto::runtime().block_on(async {
            ecr.create_repository().repository_name(repository).send().await.unwrap();
            for image in &images {
                for (digest, bytes) in image.blobs() {
                    moto::upload_blob(&ecr, repository, &digest, bytes).await;
                }
                moto::put_manifest(&ecr, repository, &image.manifest, &image.built.manifest_media_type, None).await;
            }
            moto::put_manifest(&ecr, repository, &index, index_media_type, Some("1.0")).await
        });

        let by_tag = image_uri(repository, "1.0");
        let default = cli::run_scan(ecr_command(&moto), &by_tag, &[]);
        assert_eq!(default.code, 0, "{by_tag}: {} {}", default.stderr, default.errors());
        assert_eq!(default.packages(), expected_amd64, "{by_tag}");
        assert_eq!(default.report["image"]["digest"], images[0].built.manifest_digest.as_str(), "{by_tag}");

        for target in [&by_tag, &image_uri(repository, &index_digest)] {
            let arm = cli::run_scan(ecr_command(&moto), target, &["--platform", "linux/arm64"]);
            assert_eq!(arm.code, 0, "{target}: {} {}", arm.stderr, arm.errors());
            assert_eq!(arm.packages(), expected_arm64, "{target}");
            assert_eq!(arm.report["image"]["digest"], images[1].built.manifest_digest.as_str(), "{target}");
        }

        let missing = cli::run_scan(ecr_command(&moto), &by_tag, &["--platform", "linux/s390x"]);
        assert_eq!(missing.code, 1, "{by_tag}: {}", missing.stderr);
        let error = &missing.stderr;
        assert!(
            ["linux/s390x", "available platforms", "linux/amd64", "linux/arm64"].iter().all(|s| error.contains(s)),
            "{by_tag}: {error}"
        );
    }
}

/// Every blob's first presigned URL is already expired: the scan asks for new ones and still
/// reads everything; the blob server (which refuses requests carrying an Authorization header)
/// served every blob, so no AWS credentials went to the presigned URLs.
#[test]
fn expired_presigned_urls_are_requested_again() {
    let moto = Moto::start_with(Duration::from_secs(3600), BlobFaults { expire_first: true, ..BlobFaults::default() });
    let ecr = moto.ecr();
    let spec = ImageSpec::new(vec![base_layer(), app_layer("left-pad", "1.3.0")]);
    let image = build_image(&spec, ManifestFormat::Oci);
    moto::runtime().block_on(async {
        ecr.create_repository().repository_name("team/app").send().await.unwrap();
        moto::push(&ecr, "team/app", &image, "1.0").await;
    });
    let scanned = cli::run_scan(ecr_command(&moto), &image_uri("team/app", "1.0"), &[]);
    assert_eq!(scanned.code, 0, "{} {}", scanned.stderr, scanned.errors());
    assert_eq!(scanned.packages(), local_packages(&spec));
    let stats = moto.blob_stats();
    let blobs = image.blobs().len() as u64;
    assert_eq!(stats["expired_refused"].as_u64(), Some(blobs), "{stats}");
    assert_eq!(stats["urls_issued"].as_u64(), Some(2 * blobs), "{stats}");
    for (digest, _) in image.blobs() {
        assert_eq!(stats["downloads"][&digest].as_u64(), Some(1), "{digest}: {stats}");
    }
}

#[test]
fn download_retries_govern_presigned_url_downloads() {
    // Three 503s in all: the first scan spends two on the config (one retry allowed) and fails;
    // the second, with the default retries, gets the last one and succeeds.
    let moto =
        Moto::start_with(Duration::from_secs(3600), BlobFaults { unavailable_first: 3, ..BlobFaults::default() });
    let ecr = moto.ecr();
    let spec = ImageSpec::new(vec![base_layer(), app_layer("left-pad", "1.3.0")]);
    let image = build_image(&spec, ManifestFormat::Oci);
    moto::runtime().block_on(async {
        ecr.create_repository().repository_name("team/app").send().await.unwrap();
        moto::push(&ecr, "team/app", &image, "1.0").await;
    });
    let target = image_uri("team/app", "1.0");
    let failed = cli::run_scan(ecr_command(&moto), &target, &["--download-retries", "1"]);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    let error = &failed.stderr;
    assert!(
        error.contains("2 attempts failed in a row") && error.contains("--download-retries") && error.contains("503"),
        "{error}"
    );
    assert!(error.contains(&image.built.config_digest), "names the blob: {error}");

    let scanned = cli::run_scan(ecr_command(&moto), &target, &[]);
    assert_eq!(scanned.code, 0, "{} {}", scanned.stderr, scanned.errors());
    assert_eq!(scanned.packages(), local_packages(&spec));
    assert_eq!(moto.blob_stats()["unavailable_sent"].as_u64(), Some(3));
}

#[test]
fn scan_all_reports_every_image_and_signals_the_broken_one() {
    let moto = Moto::start(Duration::from_secs(3600));
    let ecr = moto.ecr();
    let a = ImageSpec::new(vec![base_layer(), app_layer("left-pad", "1.3.0")]);
    let b = ImageSpec::new(vec![base_layer(), app_layer("is-odd", "3.0.1")]);
    let broken =
        build_image(&ImageSpec::new(vec![base_layer(), app_layer("never-uploaded", "1.0.0")]), ManifestFormat::Oci);
    moto::runtime().block_on(async {
        for repository in ["svc/a", "svc/b", "svc/broken", "other/skipped"] {
            ecr.create_repository().repository_name(repository).send().await.unwrap();
        }
        moto::push(&ecr, "svc/a", &build_image(&a, ManifestFormat::Oci), "v1").await;
        moto::push(&ecr, "svc/b", &build_image(&b, ManifestFormat::Docker), "v1").await;
        moto::push(&ecr, "other/skipped", &build_image(&a, ManifestFormat::Oci), "v1").await;
        // Config and base layer uploaded, the second layer never: LayersNotFound for it.
        let blobs = broken.blobs();
        for (digest, bytes) in &blobs[..2] {
            moto::upload_blob(&ecr, "svc/broken", digest, bytes).await;
        }
        moto::put_manifest(&ecr, "svc/broken", &broken.manifest, &broken.built.manifest_media_type, Some("v1")).await;
    });
    let output = ecr_engine(&moto, &["scan", "--all", "--repo", "svc/*", "--format", "json", "--jobs", "2"]);
    assert_eq!(output.status.code(), Some(1), "some image failed: {}", text(&output));
    let outcomes: Vec<Value> =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&output)));
    assert_eq!(outcomes.len(), 3, "other/skipped is filtered out: {outcomes:#?}");
    let outcome =
        |image: &str| outcomes.iter().find(|o| o["image"] == image).unwrap_or_else(|| panic!("{image}: {outcomes:#?}"));
    for (image, spec) in [("svc/a:v1", &a), ("svc/b:v1", &b)] {
        let o = outcome(image);
        assert_eq!(o["status"], "ok", "{o:#}");
        let report = cli::ScanResult { code: 0, report: o["report"].clone(), stderr: String::new() };
        assert_eq!(report.packages(), local_packages(spec), "{image}");
    }
    let failed = outcome("svc/broken:v1");
    assert_eq!(failed["status"], "incomplete", "{failed:#}");
    let error = failed["error"].as_str().unwrap();
    assert!(error.contains("ecr:GetDownloadUrlForLayer") && error.contains(&broken.built.layer_digests[1]), "{error}");
    // The base layer svc/a and svc/broken share (same bytes) was downloaded once in the run.
    let base = &broken.built.layer_digests[0];
    assert_eq!(&build_image(&a, ManifestFormat::Oci).built.layer_digests[0], base);
    let stats = moto.blob_stats();
    assert_eq!(stats["downloads"][base].as_u64(), Some(1), "{base}: {stats}");
    // Plain progress lines when standard error is not a terminal.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.lines().filter(|l| l.starts_with('[') && l.contains("/3] ")).count() == 3, "{stderr}");

    // The table, with --tag and --newest filters.
    let output = ecr_engine(&moto, &["scan", "--all", "--repo", "svc/a", "--tag", "v*", "--newest", "1"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(table.contains("svc/a:v1") && table.contains("1 images scanned, 0 failed"), "{table}");

    // --exit-code fails the run on findings left after filtering, as for one image.
    let args = ["scan", "--all", "--repo", "svc/a", "--format", "json", "--exit-code", "5"];
    let output = ecr_engine(&moto, &args);
    assert_eq!(output.status.code(), Some(5), "{}", text(&output));
    let outcomes: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    let issue_ids: Vec<&str> =
        outcomes[0]["report"]["issues"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert!(!issue_ids.is_empty() && outcomes[0]["vulnerabilities"] == 0, "{outcomes:#?}");
    let skipped = issue_ids.join(",");
    let output = ecr_engine(&moto, &[&args[..], &["--skip-check", &skipped]].concat());
    assert_eq!(output.status.code(), Some(0), "nothing left after --skip-check {skipped}: {}", text(&output));
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
