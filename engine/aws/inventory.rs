//! `ecr-engine repos`: one row per ECR repository, from DescribeRepositories (paged),
//! GetRepositoryPolicy and ListTagsForResource only. A call that fails leaves its row (or its
//! region) incomplete and says so; it does not cost the other rows.

use crate::aws::AwsSession;
use crate::aws::errors::ecr_failure;
use anyhow::{Result, bail};
use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecr::types::Repository;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize)]
pub struct RepositoryRow {
    pub name: String,
    pub arn: String,
    /// The ARN: unique across accounts and regions.
    pub uid: String,
    pub uri: String,
    pub registry_id: String,
    pub created_at: Option<String>,
    pub image_tag_mutability: Option<String>,
    pub scan_on_push: bool,
    pub encryption_type: Option<String>,
    pub kms_key: Option<String>,
    /// None when the repository has no policy, or when GetRepositoryPolicy failed (see `errors`).
    pub policy_text: Option<String>,
    /// None when ListTagsForResource failed.
    pub tags: Option<BTreeMap<String, String>>,
    /// None when the policy could not be read.
    pub is_public: Option<bool>,
    pub cloud_provider: &'static str,
    pub region: String,
    pub last_captured: String,
    /// The calls that failed for this repository; the fields they fill are None. Empty when the
    /// row is complete.
    pub errors: Vec<CallError>,
}

/// One failed AWS call of a row: the call, the IAM permission it needs, and the explained error.
#[derive(Debug, Clone, Serialize)]
pub struct CallError {
    pub call: &'static str,
    pub permission: &'static str,
    pub message: String,
}

impl CallError {
    /// `permission` is the IAM action, which ECR names after the call (`ecr:` and the call).
    fn new<E, R>(error: SdkError<E, R>, permission: &'static str, name: &str, region: &str) -> CallError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug,
    {
        CallError {
            call: permission.trim_start_matches("ecr:"),
            permission,
            message: format!("{:#}", ecr_failure(error, permission, name, region)),
        }
    }
}

/// `repos`' result: every row it could read, and the regions it could not list at all.
#[derive(Debug)]
pub struct Inventory {
    pub rows: Vec<RepositoryRow>,
    /// (region, why) for each region whose DescribeRepositories failed: it has no rows.
    pub failed_regions: Vec<(String, String)>,
}

impl Inventory {
    pub fn incomplete_rows(&self) -> impl Iterator<Item = &RepositoryRow> {
        self.rows.iter().filter(|row| !row.errors.is_empty())
    }

    pub fn is_complete(&self) -> bool {
        self.failed_regions.is_empty() && self.incomplete_rows().next().is_none()
    }

    /// What stderr says about an incomplete inventory: each failure, then one line naming the
    /// incomplete rows and the regions left out. Empty when complete.
    pub fn problems(&self) -> Vec<String> {
        if self.is_complete() {
            return Vec::new();
        }
        let failures = self
            .failed_regions
            .iter()
            .map(|(_, why)| why.as_str())
            .chain(self.incomplete_rows().flat_map(|row| row.errors.iter().map(|e| e.message.as_str())));
        let mut lines: Vec<String> = failures.map(|message| format!("error: {message}")).collect();
        let incomplete: Vec<String> = self
            .incomplete_rows()
            .map(|row| {
                let permissions: Vec<&str> = row.errors.iter().map(|e| e.permission).collect();
                format!("{} in {} (no {})", row.name, row.region, permissions.join(", "))
            })
            .collect();
        let mut summary = Vec::new();
        if !incomplete.is_empty() {
            summary.push(format!(
                "{} of {} rows incomplete: {}",
                incomplete.len(),
                self.rows.len(),
                incomplete.join("; ")
            ));
        }
        if !self.failed_regions.is_empty() {
            let regions: Vec<&str> = self.failed_regions.iter().map(|(region, _)| region.as_str()).collect();
            summary.push(format!("regions not listed: {}", regions.join(", ")));
        }
        lines.push(format!("inventory incomplete: {}", summary.join("; ")));
        lines
    }
}

/// Every repository of the registry in `region`, DescribeRepositories page by page
/// (`--page-size` per page). Returns the SDK's repository records.
pub async fn list_repositories(session: &AwsSession, region: &str) -> Result<Vec<Repository>> {
    let ecr = session.ecr(region);
    let mut repositories = Vec::new();
    let mut next_token: Option<String> = None;
    loop {
        let page = session
            .limited(
                ecr.describe_repositories()
                    .max_results(session.settings.page_size)
                    .set_next_token(next_token.take())
                    .send(),
            )
            .await
            .map_err(|e| ecr_failure(e, "ecr:DescribeRepositories", "the registry", region))?;
        repositories.extend(page.repositories().iter().cloned());
        match page.next_token() {
            Some(token) if !token.is_empty() => next_token = Some(token.to_string()),
            _ => return Ok(repositories),
        }
    }
}

/// The inventory of each region, repositories' policies and tags fetched concurrently (bounded
/// by --parallel-requests). A failed call costs only its row's field (the row says which), a
/// region that cannot be listed only its rows; fails only when no region could be listed.
pub async fn inventory(session: &AwsSession, regions: &[String]) -> Result<Inventory> {
    let captured = now_rfc3339();
    let mut inventory = Inventory { rows: Vec::new(), failed_regions: Vec::new() };
    for region in regions {
        let repositories = match list_repositories(session, region).await {
            Ok(repositories) => repositories,
            Err(error) => {
                inventory.failed_regions.push((region.clone(), format!("{error:#}")));
                continue;
            }
        };
        let mut tasks = tokio::task::JoinSet::new();
        for (index, repository) in repositories.into_iter().enumerate() {
            let session = session.clone();
            let region = region.clone();
            let captured = captured.clone();
            tasks.spawn(async move { (index, describe(&session, &region, repository, captured).await) });
        }
        let mut region_rows = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            region_rows.push(joined?);
        }
        region_rows.sort_by_key(|(index, _)| *index);
        inventory.rows.extend(region_rows.into_iter().map(|(_, row)| row));
    }
    if !regions.is_empty() && inventory.failed_regions.len() == regions.len() {
        let reasons: Vec<&str> = inventory.failed_regions.iter().map(|(_, why)| why.as_str()).collect();
        bail!("{}", reasons.join("; "));
    }
    Ok(inventory)
}

async fn describe(session: &AwsSession, region: &str, repository: Repository, captured: String) -> RepositoryRow {
    let ecr = session.ecr(region);
    let name = repository.repository_name().unwrap_or_default().to_string();
    let arn = repository.repository_arn().unwrap_or_default().to_string();
    let registry_id = repository.registry_id().unwrap_or_default().to_string();
    let mut errors = Vec::new();
    let policy =
        session.limited(ecr.get_repository_policy().repository_name(&name).registry_id(&registry_id).send()).await;
    let (policy_text, is_public) = match policy {
        Ok(output) => {
            let text = output.policy_text().map(str::to_string);
            let public = text.as_deref().is_some_and(policy_is_public);
            (text, Some(public))
        }
        // A repository without a policy is the common case, not an error.
        Err(error) if error.as_service_error().is_some_and(|e| e.is_repository_policy_not_found_exception()) => {
            (None, Some(false))
        }
        Err(error) => {
            errors.push(CallError::new(error, "ecr:GetRepositoryPolicy", &name, region));
            (None, None)
        }
    };
    let tags = match session.limited(ecr.list_tags_for_resource().resource_arn(&arn).send()).await {
        Ok(output) => Some(output.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()),
        Err(error) => {
            errors.push(CallError::new(error, "ecr:ListTagsForResource", &name, region));
            None
        }
    };
    let encryption = repository.encryption_configuration();
    RepositoryRow {
        uid: arn.clone(),
        arn,
        uri: repository.repository_uri().unwrap_or_default().to_string(),
        registry_id,
        created_at: repository.created_at().and_then(|t| t.fmt(aws_sdk_ecr::primitives::DateTimeFormat::DateTime).ok()),
        image_tag_mutability: repository.image_tag_mutability().map(|m| m.as_str().to_string()),
        scan_on_push: repository.image_scanning_configuration().is_some_and(|c| c.scan_on_push()),
        encryption_type: encryption.map(|e| e.encryption_type().as_str().to_string()),
        kms_key: encryption.and_then(|e| e.kms_key().map(str::to_string)),
        is_public,
        policy_text,
        tags,
        cloud_provider: "AWS",
        region: region.to_string(),
        last_captured: captured,
        name,
        errors,
    }
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "unknown".to_string())
}

/// Whether a repository policy lets anyone in: an Allow statement whose Principal is `"*"`,
/// `{"AWS": "*"}` or `{"AWS": ["*", ...]}` (any principal type). Statement may be one object or
/// a list. An unparseable policy is not public (ECR only stores valid JSON policies).
pub fn policy_is_public(policy_text: &str) -> bool {
    let Ok(policy) = serde_json::from_str::<Value>(policy_text) else { return false };
    let statements = match &policy["Statement"] {
        Value::Array(list) => list.iter().collect::<Vec<_>>(),
        single @ Value::Object(_) => vec![single],
        _ => return false,
    };
    statements
        .into_iter()
        .any(|statement| statement["Effect"] == "Allow" && principal_is_anyone(&statement["Principal"]))
}

fn principal_is_anyone(principal: &Value) -> bool {
    match principal {
        Value::String(s) => s == "*",
        Value::Array(list) => list.iter().any(principal_is_anyone),
        Value::Object(by_type) => by_type.values().any(principal_is_anyone),
        _ => false,
    }
}

/// The rows as a fixed-width table; policy text and tags are summarized (JSON has them whole).
/// `?` marks a field a failed call left unknown, and when any row is incomplete a last column
/// names the permissions its failed calls need. Cells go through `terminal::table`'s escaping.
pub fn render_table(rows: &[RepositoryRow]) -> String {
    let any_incomplete = rows.iter().any(|r| !r.errors.is_empty());
    let mut header =
        vec!["NAME", "REGION", "REGISTRY", "CREATED", "MUTABILITY", "SCAN", "ENCRYPTION", "POLICY", "PUBLIC", "TAGS"];
    if any_incomplete {
        header.push("INCOMPLETE");
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut cells = vec![
                r.name.clone(),
                r.region.clone(),
                r.registry_id.clone(),
                r.created_at.clone().unwrap_or_default(),
                r.image_tag_mutability.clone().unwrap_or_default(),
                if r.scan_on_push { "on-push" } else { "-" }.to_string(),
                match (&r.encryption_type, &r.kms_key) {
                    (Some(kind), Some(key)) => format!("{kind} ({key})"),
                    (Some(kind), None) => kind.clone(),
                    _ => "-".to_string(),
                },
                match (r.is_public, &r.policy_text) {
                    (None, _) => "?",
                    (Some(_), Some(_)) => "yes",
                    (Some(_), None) => "-",
                }
                .to_string(),
                match r.is_public {
                    Some(true) => "PUBLIC",
                    Some(false) => "-",
                    None => "?",
                }
                .to_string(),
                match &r.tags {
                    Some(tags) => tags.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
                    None => "?".to_string(),
                },
            ];
            if any_incomplete {
                cells.push(r.errors.iter().map(|e| e.permission).collect::<Vec<_>>().join(","));
            }
            cells
        })
        .collect();
    let mut out = String::new();
    crate::terminal::table(&mut out, "", &header, &table);
    let incomplete = rows.iter().filter(|r| !r.errors.is_empty()).count();
    out.push_str(&if incomplete == 0 {
        format!("{} repositories\n", rows.len())
    } else {
        format!("{} repositories, {incomplete} incomplete\n", rows.len())
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_policies_in_every_spelling() {
        let policy = |statement: &str| format!(r#"{{"Version": "2012-10-17", "Statement": {statement}}}"#);
        for principal in [r#""*""#, r#"{"AWS": "*"}"#, r#"{"AWS": ["arn:aws:iam::1:root", "*"]}"#, r#"["*"]"#] {
            let text = policy(&format!(r#"[{{"Effect": "Allow", "Principal": {principal}, "Action": "ecr:*"}}]"#));
            assert!(policy_is_public(&text), "{text}");
            let single = policy(&format!(r#"{{"Effect": "Allow", "Principal": {principal}, "Action": "ecr:*"}}"#));
            assert!(policy_is_public(&single), "{single}");
        }
        for text in [
            policy(r#"[{"Effect": "Deny", "Principal": "*", "Action": "ecr:*"}]"#),
            policy(
                r#"[{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "ecr:*"}]"#,
            ),
            policy(r#"[{"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::1:root"]}, "Action": "ecr:*"}]"#),
            "not json".to_string(),
        ] {
            assert!(!policy_is_public(&text), "{text}");
        }
    }
}
