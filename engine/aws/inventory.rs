//! `ecr-engine repos`: one row per ECR repository, from DescribeRepositories (paged),
//! GetRepositoryPolicy and ListTagsForResource only.

use crate::aws::AwsSession;
use crate::aws::errors::ecr_failure;
use anyhow::Result;
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
    pub policy_text: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub is_public: bool,
    pub cloud_provider: &'static str,
    pub region: String,
    pub last_captured: String,
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
/// by --parallel-requests).
pub async fn inventory(session: &AwsSession, regions: &[String]) -> Result<Vec<RepositoryRow>> {
    let captured = now_rfc3339();
    let mut rows = Vec::new();
    for region in regions {
        let repositories = list_repositories(session, region).await?;
        let mut tasks = tokio::task::JoinSet::new();
        for (index, repository) in repositories.into_iter().enumerate() {
            let session = session.clone();
            let region = region.clone();
            let captured = captured.clone();
            tasks.spawn(async move { (index, describe(&session, &region, repository, captured).await) });
        }
        let mut region_rows = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let (index, row) = joined?;
            region_rows.push((index, row?));
        }
        region_rows.sort_by_key(|(index, _)| *index);
        rows.extend(region_rows.into_iter().map(|(_, row)| row));
    }
    Ok(rows)
}

async fn describe(
    session: &AwsSession,
    region: &str,
    repository: Repository,
    captured: String,
) -> Result<RepositoryRow> {
    let ecr = session.ecr(region);
    let name = repository.repository_name().unwrap_or_default().to_string();
    let arn = repository.repository_arn().unwrap_or_default().to_string();
    let registry_id = repository.registry_id().unwrap_or_default().to_string();
    let policy =
        session.limited(ecr.get_repository_policy().repository_name(&name).registry_id(&registry_id).send()).await;
    let policy_text = match policy {
        Ok(output) => output.policy_text().map(str::to_string),
        // A repository without a policy is the common case, not an error.
        Err(error) if error.as_service_error().is_some_and(|e| e.is_repository_policy_not_found_exception()) => None,
        Err(error) => return Err(ecr_failure(error, "ecr:GetRepositoryPolicy", &name, region)),
    };
    let tags = session
        .limited(ecr.list_tags_for_resource().resource_arn(&arn).send())
        .await
        .map_err(|e| ecr_failure(e, "ecr:ListTagsForResource", &name, region))?;
    let encryption = repository.encryption_configuration();
    Ok(RepositoryRow {
        uid: arn.clone(),
        arn,
        uri: repository.repository_uri().unwrap_or_default().to_string(),
        registry_id,
        created_at: repository.created_at().and_then(|t| t.fmt(aws_sdk_ecr::primitives::DateTimeFormat::DateTime).ok()),
        image_tag_mutability: repository.image_tag_mutability().map(|m| m.as_str().to_string()),
        scan_on_push: repository.image_scanning_configuration().is_some_and(|c| c.scan_on_push()),
        encryption_type: encryption.map(|e| e.encryption_type().as_str().to_string()),
        kms_key: encryption.and_then(|e| e.kms_key().map(str::to_string)),
        is_public: policy_text.as_deref().is_some_and(policy_is_public),
        policy_text,
        tags: tags.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect(),
        cloud_provider: "AWS",
        region: region.to_string(),
        last_captured: captured,
        name,
    })
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
pub fn render_table(rows: &[RepositoryRow]) -> String {
    let header =
        ["NAME", "REGION", "REGISTRY", "CREATED", "MUTABILITY", "SCAN", "ENCRYPTION", "POLICY", "PUBLIC", "TAGS"];
    let table: Vec<[String; 10]> = rows
        .iter()
        .map(|r| {
            [
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
                if r.policy_text.is_some() { "yes" } else { "-" }.to_string(),
                if r.is_public { "PUBLIC" } else { "-" }.to_string(),
                r.tags.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &table {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[String]| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(padded.join("  ").trim_end());
        out.push('\n');
    };
    line(&header.map(str::to_string));
    for row in &table {
        line(row);
    }
    out.push_str(&format!("{} repositories\n", rows.len()));
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
