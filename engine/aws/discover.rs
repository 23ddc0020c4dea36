//! `scan --all`'s discovery: every repository of the region (DescribeRepositories), then every
//! tagged image of each (DescribeImages, paged), filtered by repository and tag globs and cut to
//! the newest N per repository by push time.

use crate::aws::AwsSession;
use crate::aws::errors::ecr_failure;
use crate::aws::inventory::list_repositories;
use crate::aws::pull::EcrRepository;
use crate::plugin::compile_patterns;
use anyhow::{Result, anyhow};
use aws_sdk_ecr::types::{DescribeImagesFilter, TagStatus};
use globset::GlobSet;

/// What `--repo`, `--tag` and `--newest` select. Globs: `*` does not cross '/'.
pub struct Filters {
    repositories: Option<GlobSet>,
    tags: Option<GlobSet>,
    newest: Option<usize>,
}

impl Filters {
    pub fn new(repositories: &[String], tags: &[String], newest: Option<usize>) -> Result<Filters> {
        let compile = |patterns: &[String], flag: &str| -> Result<Option<GlobSet>> {
            if patterns.is_empty() {
                return Ok(None);
            }
            compile_patterns(patterns).map(Some).map_err(|e| anyhow!("{flag}: {e}"))
        };
        if newest == Some(0) {
            return Err(anyhow!("--newest must be at least 1"));
        }
        Ok(Filters { repositories: compile(repositories, "--repo")?, tags: compile(tags, "--tag")?, newest })
    }
}

/// One image to scan: its repository, manifest digest and tags.
#[derive(Debug, Clone)]
pub struct DiscoveredImage {
    pub repository: EcrRepository,
    pub digest: String,
    pub tags: Vec<String>,
    /// Seconds since the epoch.
    pub pushed_at: i64,
}

impl DiscoveredImage {
    /// The scan target, pinned to the digest so a tag moved mid-run cannot change what is read.
    pub fn target(&self) -> String {
        format!(
            "{}.dkr.ecr.{}.amazonaws.com/{}@{}",
            self.repository.registry_id, self.repository.region, self.repository.repository, self.digest
        )
    }

    /// `repo:tag` for people (the first tag), with the digest's short form.
    pub fn label(&self) -> String {
        let tag = self.tags.first().map(String::as_str).unwrap_or("<untagged>");
        format!("{}:{tag}", self.repository.repository)
    }
}

pub async fn discover(session: &AwsSession, region: &str, filters: &Filters) -> Result<Vec<DiscoveredImage>> {
    let mut images = Vec::new();
    for repository in list_repositories(session, region).await? {
        let name = repository.repository_name().unwrap_or_default().to_string();
        if filters.repositories.as_ref().is_some_and(|set| !set.is_match(&name)) {
            continue;
        }
        let repository = EcrRepository {
            registry_id: repository.registry_id().unwrap_or_default().to_string(),
            region: region.to_string(),
            repository: name,
        };
        let mut found = tagged_images(session, &repository).await?;
        for image in &mut found {
            if let Some(set) = &filters.tags {
                image.tags.retain(|tag| set.is_match(tag));
            }
        }
        found.retain(|image| !image.tags.is_empty());
        found.sort_by(|a, b| b.pushed_at.cmp(&a.pushed_at).then_with(|| a.digest.cmp(&b.digest)));
        if let Some(newest) = filters.newest {
            found.truncate(newest);
        }
        images.extend(found);
    }
    Ok(images)
}

async fn tagged_images(session: &AwsSession, repository: &EcrRepository) -> Result<Vec<DiscoveredImage>> {
    let ecr = session.ecr(&repository.region);
    let mut images = Vec::new();
    let mut next_token = None;
    loop {
        let page = session
            .limited(
                ecr.describe_images()
                    .registry_id(&repository.registry_id)
                    .repository_name(&repository.repository)
                    .filter(DescribeImagesFilter::builder().tag_status(TagStatus::Tagged).build())
                    .max_results(session.settings.page_size)
                    .set_next_token(next_token.take())
                    .send(),
            )
            .await
            .map_err(|e| ecr_failure(e, "ecr:DescribeImages", &repository.repository, &repository.region))?;
        for detail in page.image_details() {
            let Some(digest) = detail.image_digest() else { continue };
            images.push(DiscoveredImage {
                repository: repository.clone(),
                digest: digest.to_string(),
                tags: detail.image_tags().to_vec(),
                pushed_at: detail.image_pushed_at().map(|t| t.secs()).unwrap_or(0),
            });
        }
        match page.next_token() {
            Some(token) if !token.is_empty() => next_token = Some(token.to_string()),
            _ => return Ok(images),
        }
    }
}
