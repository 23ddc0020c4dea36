//! What moto does not check, checked by injecting responses into the SDK's HTTP client and
//! reading the requests the SDK really sent: the role chain (External ID and duration on every
//! hop, each hop signed with the previous hop's keys, each assumed once per run and again before
//! its credentials expire), pagination across pages, throttling retried, AccessDenied explained,
//! an inventory kept when one repository's calls fail.

use super::*;
use aws_sdk_sts::primitives::{DateTime, DateTimeFormat};
use aws_smithy_http_client::test_util::infallible_client_fn;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

/// Requests seen (method, authorization header, body), in order.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// A client answering each request with `respond(index, body)`.
fn fake_client(
    respond: impl Fn(usize, &str) -> (u16, String) + Send + Sync + 'static,
) -> (aws_sdk_ecr::config::SharedHttpClient, Seen) {
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let client = infallible_client_fn(move |request| {
        let body = String::from_utf8_lossy(request.body().bytes().unwrap_or_default()).into_owned();
        let authorization = request
            .headers()
            .get("authorization")
            .map(|v| v.to_str().unwrap_or_default().to_string())
            .unwrap_or_default();
        let index = {
            let mut seen = record.lock().unwrap();
            seen.push((authorization, body.clone()));
            seen.len() - 1
        };
        let (status, reply) = respond(index, &body);
        let content_type = if reply.starts_with('<') { "text/xml" } else { "application/x-amz-json-1.1" };
        http::Response::builder().status(status).header("content-type", content_type).body(reply).unwrap()
    });
    (client, seen)
}

fn session(client: aws_sdk_ecr::config::SharedHttpClient, settings: &str) -> AwsSession {
    let settings = serde_json::from_str::<AwsSettings>(settings).unwrap().resolve().unwrap();
    let config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIDBASE",
            "base-secret",
            None,
            None,
            "test",
        )))
        .http_client(client)
        .retry_config(retry_config(&settings).with_initial_backoff(Duration::from_millis(1)))
        .build();
    AwsSession::from_config(config, settings)
}

/// A year far enough ahead that credentials expiring then are never refreshed during a test.
const LASTING: &str = "2099-01-01T00:00:00Z";

fn assume_role_reply(access_key: &str, expiration: &str) -> String {
    format!(
        "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult>\
         <Credentials><AccessKeyId>{access_key}</AccessKeyId><SecretAccessKey>secret-{access_key}</SecretAccessKey>\
         <SessionToken>token-{access_key}</SessionToken><Expiration>{expiration}</Expiration></Credentials>\
         <AssumedRoleUser><Arn>arn:aws:sts::1:assumed-role/r/ecr-engine</Arn><AssumedRoleId>AROA:ecr-engine</AssumedRoleId>\
         </AssumedRoleUser></AssumeRoleResult></AssumeRoleResponse>"
    )
}

/// The access key a SigV4 authorization header names.
fn signer(authorization: &str) -> &str {
    authorization.split("Credential=").nth(1).and_then(|c| c.split('/').next()).unwrap_or_default()
}

/// Base credentials AKIDBASE, loaded like `base_config` (time source, the session's shared
/// identity cache) minus the host's environment.
async fn chain_base(client: aws_sdk_ecr::config::SharedHttpClient) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .empty_test_environment()
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKIDBASE", "base-secret", None, None, "test"))
        .http_client(client)
        .retry_config(RetryConfig::standard().with_initial_backoff(Duration::from_millis(1)))
        .identity_cache(identity_cache())
        .load()
        .await
}

const CHAIN: &str = r#"{"role-arn": "arn:aws:iam::1:role/hub,arn:aws:iam::2:role/reader", "external-id": "customer-ext-42", "session-duration": 1800}"#;
const HUB: &str = "RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fhub";
const READER: &str = "RoleArn=arn%3Aaws%3Aiam%3A%3A2%3Arole%2Freader";

/// STS refusing AssumeRole (a trust policy or External ID mismatch look alike).
const STS_ACCESS_DENIED: &str = "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: \
    arn:aws:sts::1:assumed-role/hub/ecr-engine is not authorized to perform: sts:AssumeRole</Message></Error>\
    </ErrorResponse>";

/// Every AssumeRole request carries the chain's session name, External ID and duration.
fn assert_assume_role_parameters(assume_roles: &[&(String, String)], duration: &str) {
    for (index, (_, body)) in assume_roles.iter().enumerate() {
        for parameter in ["RoleSessionName=ecr-engine", "ExternalId=customer-ext-42", duration] {
            assert!(body.contains(parameter), "AssumeRole {}: no {parameter} in {body}", index + 1);
        }
    }
}

#[tokio::test]
async fn a_scan_assumes_each_hop_once_with_the_external_id_and_the_previous_hops_credentials() {
    let manifest = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#;
    let digest = crate::digest::Digest::of(manifest.as_bytes());
    let ecr_reply = serde_json::json!({
        "repositories": [{ "repositoryName": "app", "registryId": "2" }],
        "imageDetails": [{ "imageDigest": digest.as_str(), "imageTags": ["v1"] }],
        "images": [{ "imageManifest": manifest, "imageId": { "imageDigest": digest.as_str() } }],
        "downloadUrl": "https://layers.example/blob",
    })
    .to_string();
    let (client, seen) = fake_client(move |index, body| {
        if body.contains("Action=AssumeRole") {
            (200, assume_role_reply(&format!("ASIAHOP{}", index + 1), LASTING))
        } else {
            (200, ecr_reply.clone())
        }
    });
    let settings = serde_json::from_str::<AwsSettings>(CHAIN).unwrap().resolve().unwrap();
    let session = AwsSession::assume_chain(chain_base(client).await, settings).await.unwrap();

    // What `scan --all` does: discover, then each image's manifest and blobs, several at once
    // from several clients.
    let images =
        discover::discover(&session, "us-east-1", &discover::Filters::new(&[], &[], None).unwrap()).await.unwrap();
    assert_eq!(images.len(), 1);
    let mut fetches = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (session, repository) = (session.clone(), images[0].repository.clone());
        let digest = digest.clone();
        fetches.spawn(async move {
            let id = aws_sdk_ecr::types::ImageIdentifier::builder().image_digest(digest.as_str()).build();
            repository.fetch_manifest(&session, id).await.unwrap();
            repository.download_url(&session, &digest).await.unwrap()
        });
    }
    while let Some(url) = fetches.join_next().await {
        assert_eq!(url.unwrap(), "https://layers.example/blob");
    }

    let seen = seen.lock().unwrap().clone();
    let (assume_roles, ecr_calls): (Vec<_>, Vec<_>) =
        seen.iter().partition(|(_, body)| body.contains("Action=AssumeRole"));
    assert_eq!(assume_roles.len(), 2, "one AssumeRole per hop for the whole scan: {assume_roles:#?}");
    assert!(assume_roles[0].1.contains(HUB) && assume_roles[1].1.contains(READER), "{assume_roles:#?}");
    let assume_signers: Vec<&str> = assume_roles.iter().map(|(authorization, _)| signer(authorization)).collect();
    assert_eq!(assume_signers, ["AKIDBASE", "ASIAHOP1"], "hop 2 is signed with hop 1's keys");
    assert_assume_role_parameters(&assume_roles, "DurationSeconds=1800");
    assert_eq!(ecr_calls.len(), 2 + 4 * 2);
    assert!(ecr_calls.iter().all(|(authorization, _)| signer(authorization) == "ASIAHOP2"), "{ecr_calls:#?}");
}

#[tokio::test]
async fn a_refused_hop_fails_at_connect_with_its_cause() {
    let (client, seen) = fake_client(|index, _| {
        if index == 0 { (200, assume_role_reply("ASIAHOP1", LASTING)) } else { (403, STS_ACCESS_DENIED.to_string()) }
    });
    let settings = serde_json::from_str::<AwsSettings>(CHAIN).unwrap().resolve().unwrap();
    let error = AwsSession::assume_chain(chain_base(client).await, settings).await.err().unwrap().to_string();
    assert!(error.contains("cannot assume arn:aws:iam::2:role/reader (sts:AssumeRole, hop 2 of the chain)"), "{error}");
    assert!(error.contains("the role of hop 1") && error.contains("the External ID does not match"), "{error}");
    assert!(!error.contains("customer-ext-42"), "{error}");
    assert_eq!(seen.lock().unwrap().len(), 2, "AccessDenied is not retried");
}

#[tokio::test]
async fn the_role_chain_is_assumed_again_before_its_credentials_expire() {
    // The chain assumed at connect hands out credentials that expire in two minutes, well inside
    // the refresh margin; all the later ones last.
    let soon = DateTime::from(SystemTime::now() + Duration::from_secs(120)).fmt(DateTimeFormat::DateTime).unwrap();
    let assumed = AtomicUsize::new(0);
    let (client, seen) = fake_client(move |_, body| {
        if !body.contains("Action=AssumeRole") {
            return (200, r#"{"repositories": []}"#.to_string());
        }
        let n = assumed.fetch_add(1, Ordering::SeqCst) + 1;
        (200, assume_role_reply(&format!("ASIA{n}"), if n == 2 { &soon } else { LASTING }))
    });
    let settings = serde_json::from_str::<AwsSettings>(CHAIN).unwrap().resolve().unwrap();
    let session = AwsSession::assume_chain(chain_base(client).await, settings).await.unwrap();
    for _ in 0..3 {
        inventory::list_repositories(&session, "us-east-1").await.unwrap();
    }

    let seen = seen.lock().unwrap().clone();
    let (assume_roles, listings): (Vec<_>, Vec<_>) =
        seen.iter().partition(|(_, body)| body.contains("Action=AssumeRole"));
    // 1-2: the chain at connect, whose credentials serve the first listing; 3-4: the whole chain
    // again because 2 was near expiry; the third listing reuses 4 from the cache.
    let assume_signers: Vec<&str> = assume_roles.iter().map(|(authorization, _)| signer(authorization)).collect();
    assert_eq!(assume_signers, ["AKIDBASE", "ASIA1", "AKIDBASE", "ASIA3"]);
    for (index, (_, body)) in assume_roles.iter().enumerate() {
        let role = if index % 2 == 0 { HUB } else { READER };
        assert!(body.contains(role), "AssumeRole {}: {body}", index + 1);
    }
    assert_assume_role_parameters(&assume_roles, "DurationSeconds=1800");
    let listing_signers: Vec<&str> = listings.iter().map(|(authorization, _)| signer(authorization)).collect();
    assert_eq!(listing_signers, ["ASIA2", "ASIA4", "ASIA4"]);
}

#[tokio::test]
async fn a_hop_refused_on_refresh_fails_the_call_with_its_cause() {
    // The chain assumed at connect is near expiry; assumed again, its second hop is refused.
    let soon = DateTime::from(SystemTime::now() + Duration::from_secs(120)).fmt(DateTimeFormat::DateTime).unwrap();
    let assumed = AtomicUsize::new(0);
    let (client, _) = fake_client(move |_, body| {
        if !body.contains("Action=AssumeRole") {
            return (200, r#"{"repositories": []}"#.to_string());
        }
        match assumed.fetch_add(1, Ordering::SeqCst) + 1 {
            2 => (200, assume_role_reply("ASIA2", &soon)),
            4 => (403, STS_ACCESS_DENIED.to_string()),
            n => (200, assume_role_reply(&format!("ASIA{n}"), LASTING)),
        }
    });
    let settings = serde_json::from_str::<AwsSettings>(CHAIN).unwrap().resolve().unwrap();
    let session = AwsSession::assume_chain(chain_base(client).await, settings).await.unwrap();
    inventory::list_repositories(&session, "us-east-1").await.unwrap();
    let error = format!("{:#}", inventory::list_repositories(&session, "us-east-1").await.unwrap_err());
    assert!(error.contains("ecr:DescribeRepositories on the registry: no credentials to sign with"), "{error}");
    assert!(error.contains("cannot assume arn:aws:iam::2:role/reader (sts:AssumeRole, hop 2 of the chain)"), "{error}");
    assert!(!error.contains("customer-ext-42") && !error.contains("DispatchFailure"), "{error}");
}

#[tokio::test]
async fn describe_repositories_follows_next_token_across_pages() {
    let repository = |name: &str| {
        format!(
            r#"{{"repositoryName": "{name}", "repositoryArn": "arn:aws:ecr:us-east-1:1:repository/{name}",
            "registryId": "1", "repositoryUri": "1.dkr.ecr.us-east-1.amazonaws.com/{name}"}}"#
        )
    };
    let pages = [
        format!(r#"{{"repositories": [{}, {}], "nextToken": "page-2"}}"#, repository("a"), repository("b")),
        format!(r#"{{"repositories": [{}], "nextToken": "page-3"}}"#, repository("c")),
        format!(r#"{{"repositories": [{}]}}"#, repository("d")),
    ];
    let (client, seen) = fake_client(move |index, _| (200, pages[index].clone()));
    let session = session(client, r#"{"page-size": 2}"#);
    let names: Vec<String> = inventory::list_repositories(&session, "us-east-1")
        .await
        .unwrap()
        .iter()
        .map(|r| r.repository_name().unwrap().to_string())
        .collect();
    assert_eq!(names, ["a", "b", "c", "d"]);
    let bodies: Vec<serde_json::Value> =
        seen.lock().unwrap().iter().map(|(_, body)| serde_json::from_str(body).unwrap()).collect();
    assert_eq!(bodies.len(), 3);
    assert!(bodies.iter().all(|b| b["maxResults"] == 2), "{bodies:?}");
    assert_eq!(bodies[0].get("nextToken"), None);
    assert_eq!(bodies[1]["nextToken"], "page-2");
    assert_eq!(bodies[2]["nextToken"], "page-3");
}

#[tokio::test]
async fn throttling_is_retried_up_to_max_retries() {
    let throttled = r#"{"__type": "ThrottlingException", "message": "Rate exceeded"}"#;
    let (client, seen) = fake_client(move |index, _| {
        if index < 2 { (400, throttled.to_string()) } else { (200, r#"{"repositories": []}"#.to_string()) }
    });
    let repositories = inventory::list_repositories(&session(client, "{}"), "us-east-1").await.unwrap();
    assert!(repositories.is_empty());
    assert_eq!(seen.lock().unwrap().len(), 3, "two throttled attempts, then success");

    // With --max-retries 1 the second throttle is final, and says what failed.
    let (client, seen) = fake_client(move |_, _| (503, r#"{"__type": "ServiceUnavailableException"}"#.to_string()));
    let error = inventory::list_repositories(&session(client, r#"{"max-retries": 1}"#), "us-east-1").await.unwrap_err();
    assert_eq!(seen.lock().unwrap().len(), 2);
    assert!(error.to_string().contains("ecr:DescribeRepositories"), "{error}");
}

#[tokio::test]
async fn access_denied_names_the_permission_and_the_resource() {
    let (client, _) = fake_client(|_, _| {
        (
            400,
            r#"{"__type": "AccessDeniedException", "message": "User: arn:aws:sts::1:assumed-role/r/x is not authorized to perform: ecr:DescribeRepositories"}"#
                .to_string(),
        )
    });
    let error = inventory::list_repositories(&session(client, "{}"), "eu-west-1").await.unwrap_err().to_string();
    assert!(error.contains("ecr:DescribeRepositories on the registry was denied"), "{error}");
    assert!(error.contains("needs permission ecr:DescribeRepositories"), "{error}");
    assert!(error.contains("is not authorized to perform"), "AWS's own words are kept: {error}");
}

#[tokio::test]
async fn batch_get_image_asks_for_oci_and_docker_media_types_and_checks_the_digest() {
    let manifest = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
    let digest = crate::digest::Digest::of(manifest.as_bytes());
    let reply = serde_json::json!({ "images": [{ "imageManifest": manifest,
        "imageManifestMediaType": "application/vnd.oci.image.index.v1+json",
        "imageId": { "imageTag": "1.0", "imageDigest": digest.as_str() } }], "failures": [] })
    .to_string();
    let (client, seen) = fake_client(move |_, _| (200, reply.clone()));
    let repository = pull::EcrRepository {
        registry_id: "123456789012".into(),
        region: "eu-west-1".into(),
        repository: "team/app".into(),
    };
    let session = session(client, "{}");
    let tag = aws_sdk_ecr::types::ImageIdentifier::builder().image_tag("1.0").build();
    let fetched = repository.fetch_manifest(&session, tag).await.unwrap();
    assert_eq!(fetched.digest, digest);
    assert_eq!(fetched.bytes, manifest.as_bytes());
    let body: serde_json::Value = serde_json::from_str(&seen.lock().unwrap()[0].1).unwrap();
    assert_eq!(body["acceptedMediaTypes"], serde_json::json!(pull::ACCEPTED_MEDIA_TYPES), "{body}");
    assert_eq!(body["registryId"], "123456789012");
    assert_eq!(body["imageIds"], serde_json::json!([{ "imageTag": "1.0" }]));

    // A manifest that does not hash to the digest ECR reports is refused.
    let lying = serde_json::json!({ "images": [{ "imageManifest": manifest,
        "imageId": { "imageTag": "1.0", "imageDigest": format!("sha256:{}", "1".repeat(64)) } }] })
    .to_string();
    let (client, _) = fake_client(move |_, _| (200, lying.clone()));
    let tag = aws_sdk_ecr::types::ImageIdentifier::builder().image_tag("1.0").build();
    let error = repository.fetch_manifest(&self::session(client, "{}"), tag).await.unwrap_err().to_string();
    assert!(error.contains("refusing it"), "{error}");

    // ImageNotFound comes back as a per-image failure, not an error.
    let (client, _) = fake_client(|_, _| {
        (200, r#"{"images": [], "failures": [{"imageId": {"imageTag": "2.0"}, "failureCode": "ImageNotFound", "failureReason": "Requested image not found"}]}"#.to_string())
    });
    let tag = aws_sdk_ecr::types::ImageIdentifier::builder().image_tag("2.0").build();
    let error = repository.fetch_manifest(&self::session(client, "{}"), tag).await.unwrap_err().to_string();
    assert!(
        error.contains("image team/app:2.0 not found in registry 123456789012 region eu-west-1 (ecr:BatchGetImage)"),
        "{error}"
    );
}

#[tokio::test]
async fn one_repositorys_failed_calls_leave_the_rest_of_the_inventory_complete() {
    let public_policy = r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "ecr:BatchGetImage"}]}"#;
    let listings = AtomicUsize::new(0);
    let (client, seen) = fake_client(move |_, body| {
        let request: serde_json::Value = serde_json::from_str(body).unwrap();
        let error =
            |code: &str| (400, serde_json::json!({ "__type": code, "message": format!("{code} here") }).to_string());
        if let Some(arn) = request["resourceArn"].as_str() {
            // ListTagsForResource: c is throttled past --max-retries.
            return if arn.ends_with("/c") {
                error("ThrottlingException")
            } else {
                (200, r#"{"tags": [{"Key": "team", "Value": "payments"}]}"#.to_string())
            };
        }
        match request["repositoryName"].as_str() {
            // GetRepositoryPolicy: a has none, b's is denied, c's is public.
            Some("a") => error("RepositoryPolicyNotFoundException"),
            Some("b") => error("AccessDeniedException"),
            Some(_) => (200, serde_json::json!({ "policyText": public_policy }).to_string()),
            // DescribeRepositories: the first region lists three, the second is denied.
            None if listings.fetch_add(1, Ordering::SeqCst) == 0 => {
                let repositories: Vec<serde_json::Value> = ["a", "b", "c"]
                    .iter()
                    .map(|name| {
                        serde_json::json!({ "repositoryName": name, "registryId": "1",
                            "repositoryArn": format!("arn:aws:ecr:us-east-1:1:repository/{name}") })
                    })
                    .collect();
                (200, serde_json::json!({ "repositories": repositories }).to_string())
            }
            None => error("AccessDeniedException"),
        }
    });
    let session = session(client, r#"{"max-retries": 1}"#);
    let regions = ["us-east-1".to_string(), "eu-west-1".to_string()];
    let inventory = inventory::inventory(&session, &regions).await.unwrap();

    let names: Vec<&str> = inventory.rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    let rows: Vec<serde_json::Value> = inventory.rows.iter().map(|r| serde_json::to_value(r).unwrap()).collect();
    // a: no policy is not an error.
    assert_eq!(rows[0]["errors"], serde_json::json!([]), "{:#}", rows[0]);
    assert_eq!((&rows[0]["policy_text"], &rows[0]["is_public"]), (&serde_json::Value::Null, &false.into()));
    assert_eq!(rows[0]["tags"]["team"], "payments");
    // b: the policy is unknown, the tags are there.
    assert_eq!(rows[1]["errors"].as_array().unwrap().len(), 1, "{:#}", rows[1]);
    assert_eq!(rows[1]["errors"][0]["call"], "GetRepositoryPolicy");
    assert_eq!(rows[1]["errors"][0]["permission"], "ecr:GetRepositoryPolicy");
    let message = rows[1]["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("ecr:GetRepositoryPolicy on b was denied"), "{message}");
    assert_eq!((&rows[1]["policy_text"], &rows[1]["is_public"]), (&serde_json::Value::Null, &serde_json::Value::Null));
    assert_eq!(rows[1]["tags"]["team"], "payments");
    // c: public, its tags unknown after the retry.
    assert_eq!(rows[2]["is_public"], true);
    assert_eq!(rows[2]["tags"], serde_json::Value::Null);
    assert_eq!(rows[2]["errors"][0]["permission"], "ecr:ListTagsForResource", "{:#}", rows[2]);
    let tag_calls = seen.lock().unwrap().iter().filter(|(_, body)| body.contains("repository/c")).count();
    assert_eq!(tag_calls, 2, "ListTagsForResource on c tried once and retried once");

    assert!(!inventory.is_complete());
    assert_eq!(inventory.failed_regions.len(), 1);
    assert_eq!(inventory.failed_regions[0].0, "eu-west-1");
    let problems = inventory.problems();
    assert_eq!(problems.len(), 4, "{problems:#?}");
    assert!(problems[0].contains("ecr:DescribeRepositories on the registry was denied"), "{problems:#?}");
    assert_eq!(
        problems[3],
        "inventory incomplete: 2 of 3 rows incomplete: b in us-east-1 (no ecr:GetRepositoryPolicy); \
         c in us-east-1 (no ecr:ListTagsForResource); regions not listed: eu-west-1"
    );
    let table = inventory::render_table(&inventory.rows);
    // Each row's cells, one space apart.
    let line = |name: &str| {
        let line = table.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap();
        line.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    assert!(line("a").ends_with("team=payments"), "{table}");
    assert!(line("b").ends_with("? ? team=payments ecr:GetRepositoryPolicy"), "{table}");
    assert!(line("c").ends_with("yes PUBLIC ? ecr:ListTagsForResource"), "{table}");
    assert!(table.ends_with("3 repositories, 2 incomplete\n"), "{table}");
}

#[tokio::test]
async fn an_inventory_with_no_region_listed_fails() {
    let (client, _) =
        fake_client(|_, _| (400, r#"{"__type": "AccessDeniedException", "message": "not authorized"}"#.to_string()));
    let regions = ["eu-west-1".to_string()];
    let error = inventory::inventory(&session(client, "{}"), &regions).await.unwrap_err().to_string();
    assert!(error.contains("ecr:DescribeRepositories on the registry was denied"), "{error}");
}
