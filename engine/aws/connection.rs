//! `ecr-engine test-connection`: the role chain, then one harmless call per permission the product
//! uses, each reported as ok or as the exact failure with what to fix.

use crate::aws::errors::{Failure, assume_role_failure, classify, detail, ecr_failure};
use crate::aws::role_chain::{assume_role, signing_with};
use crate::aws::{AwsSession, ResolvedSettings, base_config};
use crate::terminal::for_terminal;
use anyhow::{Result, anyhow};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub check: String,
    /// "ok", "FAIL" or "skipped".
    pub status: &'static str,
    pub detail: String,
}

#[derive(Default)]
struct Steps(Vec<Step>);

impl Steps {
    fn record(&mut self, check: &str, result: Result<String>) -> bool {
        let (status, detail, ok) = match result {
            Ok(detail) => ("ok", detail, true),
            Err(error) => ("FAIL", format!("{error:#}"), false),
        };
        self.0.push(Step { check: check.to_string(), status, detail });
        ok
    }

    fn skip(&mut self, check: &str, why: &str) {
        self.0.push(Step { check: check.to_string(), status: "skipped", detail: why.to_string() });
    }
}

/// Every ECR permission a scan or an inventory uses, checked in this order.
const ECR_CHECKS: [&str; 7] = [
    "ecr:ListImages",
    "ecr:DescribeImages",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "ecr:GetRepositoryPolicy",
    "ecr:ListTagsForResource",
    "ecr:GetAuthorizationToken",
];

/// Runs the checks; stops at the first failure that makes the later ones meaningless
/// (credentials, role chain, region, DescribeRepositories).
pub async fn test_connection(settings: ResolvedSettings) -> Vec<Step> {
    let mut steps = Steps::default();
    let mut config = base_config(&settings).await;
    let base = aws_sdk_sts::Client::new(&config).get_caller_identity().send().await;
    let base_ok = steps.record(
        "credentials (sts:GetCallerIdentity)",
        base.map(|who| format!("signed in as {}", who.arn().unwrap_or("?"))).map_err(|error| {
            let hint = match classify(&error) {
                Failure::Unreachable => "cannot reach STS: check --endpoint-url, --region and the network",
                _ => "no valid base credentials: check --profile, the AWS_* environment variables or explicit keys",
            };
            anyhow!("{hint} [{}]", detail(&error))
        }),
    );
    let mut chain_ok = base_ok;
    for (hop, arn) in settings.roles.iter().enumerate() {
        let check = format!("assume role {} of {}: {arn}", hop + 1, settings.roles.len());
        if !chain_ok {
            steps.skip(&check, "an earlier step failed");
            continue;
        }
        match assume_role(&config, arn, settings.external_id.as_ref(), settings.session_duration).await {
            Ok(credentials) => {
                config = signing_with(&config, credentials);
                let who = aws_sdk_sts::Client::new(&config).get_caller_identity().send().await;
                chain_ok = steps.record(
                    &check,
                    who.map(|w| format!("now {}", w.arn().unwrap_or("?")))
                        .map_err(|e| anyhow!("the temporary credentials do not work: {}", detail(&e))),
                );
            }
            Err(error) => {
                chain_ok =
                    steps.record(&check, Err(assume_role_failure(error, arn, hop, settings.external_id.is_some())));
            }
        }
    }
    let session = AwsSession::from_config(config, settings);
    let region = match (chain_ok, session.default_region()) {
        (false, _) => None,
        (true, Ok(region)) => {
            steps.record("region", Ok(region.clone()));
            Some(region)
        }
        (true, Err(error)) => {
            steps.record("region", Err(error));
            None
        }
    };
    let Some(region) = region else {
        for check in std::iter::once("ecr:DescribeRepositories").chain(ECR_CHECKS) {
            steps.skip(check, "an earlier step failed");
        }
        return steps.0;
    };
    let ecr = session.ecr(&region);
    let first = ecr.describe_repositories().max_results(1).send().await;
    let repository = match first {
        Ok(page) => {
            let repository = page.repositories().first().cloned();
            steps.record(
                "ecr:DescribeRepositories",
                Ok(match &repository {
                    Some(r) => format!("repositories visible in {region}, e.g. {}", r.repository_name().unwrap_or("?")),
                    None => format!("no repositories in {region}"),
                }),
            );
            repository
        }
        Err(error) => {
            steps.record(
                "ecr:DescribeRepositories",
                Err(ecr_failure(error, "ecr:DescribeRepositories", "the registry", &region)),
            );
            for check in ECR_CHECKS {
                steps.skip(check, "an earlier step failed");
            }
            return steps.0;
        }
    };
    let token = ecr.get_authorization_token().send().await;
    let token_result = token
        .map(|_| "ok".to_string())
        .map_err(|e| ecr_failure(e, "ecr:GetAuthorizationToken", "the registry", &region));
    let Some(repository) = repository else {
        for check in &ECR_CHECKS[..6] {
            steps.skip(check, "no repository in this region to check against");
        }
        steps.record("ecr:GetAuthorizationToken", token_result);
        return steps.0;
    };
    let name = repository.repository_name().unwrap_or_default().to_string();
    let arn = repository.repository_arn().unwrap_or_default().to_string();
    let listed = ecr.list_images().repository_name(&name).max_results(1).send().await;
    let image = listed.as_ref().ok().and_then(|l| l.image_ids().first().cloned());
    steps.record(
        "ecr:ListImages",
        listed.map(|_| format!("on {name}")).map_err(|e| ecr_failure(e, "ecr:ListImages", &name, &region)),
    );
    let described = ecr.describe_images().repository_name(&name).max_results(1).send().await;
    steps.record(
        "ecr:DescribeImages",
        described.map(|_| format!("on {name}")).map_err(|e| ecr_failure(e, "ecr:DescribeImages", &name, &region)),
    );
    // With no image to ask for, a tag that cannot exist still exercises the permission: ECR
    // answers with a per-image failure, not an error.
    let image_id = image.unwrap_or_else(|| {
        aws_sdk_ecr::types::ImageIdentifier::builder().image_tag("ecr-engine-connection-test").build()
    });
    let fetched = ecr.batch_get_image().repository_name(&name).image_ids(image_id).send().await;
    steps.record(
        "ecr:BatchGetImage",
        fetched.map(|_| format!("on {name}")).map_err(|e| ecr_failure(e, "ecr:BatchGetImage", &name, &region)),
    );
    // A digest no layer has: "not found" proves the permission is there.
    let no_layer = format!("sha256:{}", "0".repeat(64));
    let url = ecr.get_download_url_for_layer().repository_name(&name).layer_digest(&no_layer).send().await;
    steps.record(
        "ecr:GetDownloadUrlForLayer",
        match url {
            Ok(_) => Ok(format!("on {name}")),
            Err(error) if classify(&error) == Failure::LayersNotFound => Ok(format!("on {name}")),
            Err(error) if error.as_service_error().is_some_and(|e| e.is_invalid_parameter_exception()) => {
                Ok(format!("on {name}"))
            }
            Err(error) => Err(ecr_failure(error, "ecr:GetDownloadUrlForLayer", &name, &region)),
        },
    );
    let policy = ecr.get_repository_policy().repository_name(&name).send().await;
    steps.record(
        "ecr:GetRepositoryPolicy",
        match policy {
            Ok(_) => Ok(format!("on {name}")),
            Err(error) if error.as_service_error().is_some_and(|e| e.is_repository_policy_not_found_exception()) => {
                Ok(format!("on {name} (it has no policy)"))
            }
            Err(error) => Err(ecr_failure(error, "ecr:GetRepositoryPolicy", &name, &region)),
        },
    );
    let tags = ecr.list_tags_for_resource().resource_arn(&arn).send().await;
    steps.record(
        "ecr:ListTagsForResource",
        tags.map(|_| format!("on {name}")).map_err(|e| ecr_failure(e, "ecr:ListTagsForResource", &name, &region)),
    );
    steps.record("ecr:GetAuthorizationToken", token_result);
    steps.0
}

pub fn all_passed(steps: &[Step]) -> bool {
    steps.iter().all(|s| s.status != "FAIL")
}

pub fn render(steps: &[Step]) -> String {
    let width = steps.iter().map(|s| s.check.len()).max().unwrap_or(0);
    let mut out = String::new();
    for step in steps {
        out.push_str(&format!("{:<7} {:<width$}  {}\n", step.status, step.check, for_terminal(&step.detail)));
    }
    let failed = steps.iter().filter(|s| s.status == "FAIL").count();
    out.push_str(&if failed == 0 { "all checks passed\n".to_string() } else { format!("{failed} check(s) failed\n") });
    out
}
