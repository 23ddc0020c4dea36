//! Packages against advisories: OSV range semantics evaluated with each ecosystem's exact
//! version rules, and one finding per vulnerability and package however many ids it has.

use crate::model::Severity;
use crate::report::{PackageEntry, VulnerabilityEntry};
use crate::store::{AdvisorySource, StoredAffected};
use crate::vuln::ecosystem::{self, Lookup};
use crate::vuln::osv::{Event, Matching};
use crate::vuln::version::Scheme;
use anyhow::Result;
use std::cmp::Ordering;
use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};

#[derive(Debug, Clone, Copy, Default)]
pub struct MatchOptions {
    /// Also match development dependencies that are only declared in a lockfile, not installed.
    pub include_dev: bool,
}

/// What to look up for a package, if anything: the key, and the name and version advisories
/// use. As osv-schema's ecosystem list says: Debian and Ubuntu advisories name source packages
/// and their versions; Alpine's the origin package; Azure Linux's, Mageia's and openEuler's the
/// source RPM (built with the binary packages' version); Wolfi's and Chainguard's the installed
/// package. `os` is the OS id and its release as [`ecosystem::release_for_matching`] gives it.
pub fn lookup_for(package: &PackageEntry, os: Option<(&str, &str)>) -> Option<Lookup> {
    let key = ecosystem::key_for_package(&package.ecosystem, os)?;
    let source_name = || package.source_name.clone().unwrap_or_else(|| package.name.clone());
    let (name, version) = match package.ecosystem.as_str() {
        "deb" => (source_name(), package.source_version.clone().unwrap_or_else(|| package.version.clone())),
        "apk" if key.starts_with("alpine:") => (source_name(), package.version.clone()),
        "rpm" if ["azurelinux:", "mageia:", "openeuler:"].iter().any(|prefix| key.starts_with(prefix)) => {
            (source_name(), package.version.clone())
        }
        _ => (ecosystem::package_name(&key, &package.name).into_owned(), package.version.clone()),
    };
    Some(Lookup { key, name, version })
}

fn dev_only(package: &PackageEntry) -> bool {
    package.properties.get("scope").is_some_and(|s| s == "dev")
        && package.properties.get("declared-only").is_some_and(|s| s == "true")
}

/// A lookup (key, name) and the packages that share it: their position and version to match.
type SharedLookup = ((String, String), Vec<(usize, String)>);

/// What matching found.
#[derive(Debug, Default)]
pub struct Matches {
    /// Sorted by severity (worst first), then package and id.
    pub vulnerabilities: Vec<VulnerabilityEntry>,
    /// One message per package that has advisories but a version its ecosystem's rules cannot
    /// read: placing such a version in the advisories' ranges would be a guess, so it is not
    /// matched and the report says so.
    pub unmatched: Vec<String>,
}

/// Matches every package.
pub fn match_packages(
    source: &dyn AdvisorySource,
    packages: &[PackageEntry],
    os: Option<(&str, &str)>,
    options: MatchOptions,
) -> Result<Matches> {
    // Many binary packages share one source package: look each up once, match all its binary
    // packages against the rows, and let the rows go before the next lookup.
    let mut lookups: Vec<SharedLookup> = Vec::new();
    let mut index_of: HashMap<(String, String), usize> = HashMap::new();
    for (position, package) in packages.iter().enumerate() {
        if dev_only(package) && !options.include_dev {
            continue;
        }
        let Some(Lookup { key, name, version }) = lookup_for(package, os) else { continue };
        match index_of.entry((key, name)) {
            Entry::Occupied(entry) => lookups[*entry.get()].1.push((position, version)),
            Entry::Vacant(entry) => {
                lookups.push((entry.key().clone(), vec![(position, version)]));
                entry.insert(lookups.len() - 1);
            }
        }
    }
    // Each finding keeps its package's position, so that ties in the final order stay in
    // package order whatever order the lookups ran in.
    let mut found: Vec<(usize, VulnerabilityEntry)> = Vec::new();
    let mut unmatched = Vec::new();
    for ((key, name), users) in &lookups {
        let rows = source.affected(key, name)?;
        // All rows under one key share the version rules.
        let scheme = rows.iter().find_map(|row| Scheme::for_osv_ecosystem(&row.ecosystem));
        for (position, version) in users {
            let (position, package) = (*position, &packages[*position]);
            if let Some(scheme) = scheme
                && !scheme.is_valid(version)
            {
                unmatched.push(format!(
                    "{} {} ({}): {version:?} is not a valid {} version, so the package was not checked against the {} advisory record(s) for {name}",
                    package.name,
                    package.version,
                    package.path,
                    scheme.name(),
                    rows.len()
                ));
                continue;
            }
            let hits: Vec<Hit> = rows.iter().filter_map(|row| evaluate(row, version)).collect();
            found.extend(merge_aliases(package, hits).into_iter().map(|entry| (position, entry)));
        }
    }
    found.sort_by(|(a_position, a), (b_position, b)| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.package.cmp(&b.package))
            .then_with(|| a.id.cmp(&b.id))
            .then_with(|| a_position.cmp(b_position))
    });
    Ok(Matches { vulnerabilities: found.into_iter().map(|(_, entry)| entry).collect(), unmatched })
}

struct Hit<'a> {
    row: &'a StoredAffected,
    fixed: Option<String>,
    scheme: Scheme,
}

/// Whether `version` is affected according to one advisory row, and if so the fixed version.
fn evaluate<'a>(row: &'a StoredAffected, version: &str) -> Option<Hit<'a>> {
    let scheme = Scheme::for_osv_ecosystem(&row.ecosystem)?;
    let fixed = affected(&row.matching, scheme, version)?;
    Some(Hit { row, fixed, scheme })
}

/// OSV semantics: `Some(fix)` when affected, with the fix (if any) of the range that said so.
pub fn affected(matching: &Matching, scheme: Scheme, version: &str) -> Option<Option<String>> {
    let mut hit: Option<Option<String>> = None;
    for range in &matching.ranges {
        let range_scheme = match range.kind.as_str() {
            "ECOSYSTEM" => scheme,
            "SEMVER" => Scheme::Semver,
            _ => continue,
        };
        if let Some(fixed) = range_affects(&range.events, range_scheme, version) {
            // Several ranges may say so; keep a known fix over none.
            hit = Some(hit.flatten().or(fixed));
        }
    }
    if hit.is_none() && matching.versions.iter().any(|v| scheme.compare(v, version) == Ordering::Equal) {
        hit = Some(None);
    }
    hit
}

fn event_version(event: &Event) -> &str {
    event
        .introduced
        .as_deref()
        .or(event.fixed.as_deref())
        .or(event.last_affected.as_deref())
        .or(event.limit.as_deref())
        .unwrap_or("")
}

/// The OSV algorithm for one range: walk the events in version order; `introduced` switches
/// vulnerability on, `fixed` / `last_affected` / `limit` switch it off past their version.
fn range_affects(events: &[Event], scheme: Scheme, version: &str) -> Option<Option<String>> {
    let mut sorted: Vec<&Event> = events.iter().collect();
    let rank = |e: &Event| e.introduced.as_deref() == Some("0");
    sorted.sort_by(|a, b| match (rank(a), rank(b)) {
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        _ => scheme.compare(event_version(a), event_version(b)),
    });
    let at_least = |bound: &str| scheme.compare(version, bound) != Ordering::Less;
    let mut vulnerable = false;
    for event in &sorted {
        if let Some(introduced) = &event.introduced {
            if introduced == "0" || at_least(introduced) {
                vulnerable = true;
            }
        } else if let Some(fixed) = &event.fixed {
            if at_least(fixed) {
                vulnerable = false;
            }
        } else if let Some(last) = &event.last_affected {
            if scheme.compare(version, last) == Ordering::Greater {
                vulnerable = false;
            }
        } else if let Some(limit) = &event.limit
            && at_least(limit)
        {
            vulnerable = false;
        }
    }
    if !vulnerable {
        return None;
    }
    let fix = sorted
        .iter()
        .filter_map(|e| e.fixed.as_deref())
        .find(|fixed| scheme.compare(fixed, version) == Ordering::Greater)
        .map(str::to_string);
    Some(fix)
}

/// Ids known to be one vulnerability, with the advisory hits (and summaries) behind them.
type AliasGroup<'a> = (BTreeSet<String>, Vec<(Hit<'a>, String)>);

/// One entry per vulnerability: advisories that name each other (CVE, GHSA, DSA, DEBIAN-CVE,
/// ALPINE-CVE...) are one vulnerability, reported under its CVE id when it has one.
fn merge_aliases(package: &PackageEntry, hits: Vec<Hit<'_>>) -> Vec<VulnerabilityEntry> {
    let mut groups: Vec<AliasGroup<'_>> = Vec::new();
    for hit in hits {
        let summary = hit.row.summary.clone();
        let mut ids: BTreeSet<String> = hit.row.aliases.iter().cloned().collect();
        ids.insert(hit.row.advisory_id.clone());
        // Join every group this advisory shares an id with.
        let mut merged_ids = ids;
        let mut merged_hits = vec![(hit, summary)];
        let mut index = 0;
        while index < groups.len() {
            if groups[index].0.intersection(&merged_ids).next().is_some() {
                let (ids, hits) = groups.swap_remove(index);
                merged_ids.extend(ids);
                merged_hits.extend(hits);
            } else {
                index += 1;
            }
        }
        groups.push((merged_ids, merged_hits));
    }
    let mut out = Vec::new();
    for (ids, hits) in groups {
        let id = ids.iter().find(|i| i.starts_with("CVE-")).or(ids.iter().next()).cloned().unwrap_or_default();
        let aliases: Vec<String> = ids.iter().filter(|i| **i != id).cloned().collect();
        let severity = hits.iter().map(|(h, _)| h.row.severity).max().unwrap_or(Severity::Unknown);
        let score = hits.iter().filter_map(|(h, _)| h.row.score).reduce(f64::max);
        // The highest fix any source names: installing it fixes the vulnerability for all.
        let fixed_version = hits
            .iter()
            .filter_map(|(h, _)| h.fixed.as_deref().map(|f| (h.scheme, f)))
            .max_by(|(scheme, a), (_, b)| scheme.compare(a, b))
            .map(|(_, f)| f.to_string());
        let summary = hits.iter().map(|(_, s)| s.as_str()).find(|s| !s.is_empty()).unwrap_or("").to_string();
        let advisories: BTreeSet<String> = hits.iter().map(|(h, _)| h.row.advisory_id.clone()).collect();
        let ecosystem = hits.first().map(|(h, _)| h.row.ecosystem.clone()).unwrap_or_default();
        out.push(VulnerabilityEntry {
            id,
            aliases,
            package: package.name.clone(),
            installed_version: package.version.clone(),
            fixed_version,
            severity,
            score,
            ecosystem,
            purl: package.purl.clone(),
            path: package.path.clone(),
            layer: package.layer.clone(),
            summary,
            advisories: advisories.into_iter().collect(),
        });
    }
    out
}
