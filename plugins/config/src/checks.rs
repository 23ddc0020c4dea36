//! The check catalogue: one stable id per check, never reused (docs/checks.md documents each, and
//! a test keeps the two in step). Severities are fixed per check so `--skip-check` and severity
//! filters mean the same thing on every image.

use ecr_plugin_kit::{Finding, Issue, Severity};

pub struct Check {
    pub id: &'static str,
    pub severity: Severity,
    pub remediation: &'static str,
}

const ROTATE: &str = "Treat the credential as leaked and revoke or rotate it now: deleting it in a later layer or \
rebuilding does not remove it from images already pushed. Pass secrets at run time (orchestrator secrets, mounted \
files) and, during the build, with BuildKit secret mounts (`RUN --mount=type=secret,...`), never through ENV, \
LABEL, ARG or files copied into a layer.";

pub const ROOT_USER: Check = Check {
    id: "CFG-001",
    severity: Severity::Medium,
    remediation: "Create an unprivileged user and end the Dockerfile with `USER <name or uid>` (a numeric uid lets \
Kubernetes enforce runAsNonRoot).",
};
pub const SECRET_IN_ENV: Check = Check { id: "CFG-002", severity: Severity::Critical, remediation: ROTATE };
pub const SECRET_IN_LABEL: Check = Check { id: "CFG-003", severity: Severity::Critical, remediation: ROTATE };
pub const SECRET_IN_HISTORY: Check = Check { id: "CFG-004", severity: Severity::Critical, remediation: ROTATE };
pub const CREDENTIAL_VARIABLE: Check = Check {
    id: "CFG-005",
    severity: Severity::Medium,
    remediation: "If the value is a real credential, rotate it and supply it at run time (secrets, mounted files, \
or a *_FILE variable pointing at one) or during the build with `RUN --mount=type=secret`. If it is not a \
secret, suppress this check with `--skip-check CFG-005`.",
};
pub const ADD_REMOTE_URL: Check = Check {
    id: "CFG-006",
    severity: Severity::Low,
    remediation: "Download with a pinned checksum (`ADD --checksum=sha256:... URL`, or `curl` followed by \
`sha256sum -c` in a RUN step), or copy a vetted file into the build context and use COPY.",
};
pub const PIPE_TO_SHELL: Check = Check {
    id: "CFG-007",
    severity: Severity::Medium,
    remediation: "Download the script to a file, verify its checksum or signature, then run it; better, install \
from a package repository or a pinned release artifact.",
};
pub const PACKAGE_CACHE: Check = Check {
    id: "CFG-008",
    severity: Severity::Low,
    remediation: "Clean the cache in the same RUN step that fills it (see the description), or keep it out of \
the image with a BuildKit cache mount (`RUN --mount=type=cache,target=...`).",
};
pub const NO_HEALTHCHECK: Check = Check {
    id: "CFG-009",
    severity: Severity::Low,
    remediation: "Add a `HEALTHCHECK CMD ...` that probes the service, or configure the probe in the orchestrator \
(Kubernetes liveness/readiness probes, ECS health checks) and suppress this check.",
};
pub const SSH_PORT: Check = Check {
    id: "CFG-010",
    severity: Severity::Medium,
    remediation: "Remove `EXPOSE 22` and the SSH server; use `docker exec`, `kubectl exec` or ECS Exec to get a \
shell in a running container.",
};
pub const PRIVATE_KEY_FILE: Check = Check {
    id: "CFG-011",
    severity: Severity::High,
    remediation: "Remove the key from every layer (rebuild without copying it; a later `rm` leaves it in the lower \
layer), revoke or replace it, and provide keys at run time (mounted secrets) or during the build with \
`RUN --mount=type=ssh` or `--mount=type=secret`. SSH host keys should be generated when the container first \
starts, so that containers do not share them.",
};
pub const AWS_CREDENTIALS_FILE: Check = Check { id: "CFG-012", severity: Severity::Critical, remediation: ROTATE };
pub const NPM_TOKEN_FILE: Check = Check { id: "CFG-013", severity: Severity::Critical, remediation: ROTATE };
pub const DOCKER_AUTH_FILE: Check = Check { id: "CFG-014", severity: Severity::Critical, remediation: ROTATE };
pub const EMPTY_PASSWORD: Check = Check {
    id: "CFG-015",
    severity: Severity::High,
    remediation: "Lock the account (`passwd -l NAME`, or `*` / `!` in the password field) or give it a password \
hash; accounts in an image should not need to log in with a password at all.",
};
pub const EXTRA_UID0: Check = Check {
    id: "CFG-016",
    severity: Severity::High,
    remediation: "Give the account its own non-zero uid or remove it; only `root` should have uid 0. An unexpected \
uid-0 account is also a common sign of tampering: find out which build step added it.",
};
pub const SSHD_ROOT_LOGIN: Check = Check {
    id: "CFG-017",
    severity: Severity::High,
    remediation: "Set `PermitRootLogin no` (or `prohibit-password`) in sshd_config, or remove the SSH server from \
the image.",
};
pub const SSHD_PASSWORD_AUTH: Check = Check {
    id: "CFG-018",
    severity: Severity::Medium,
    remediation: "Set `PasswordAuthentication no` and use public-key authentication, or remove the SSH server \
from the image.",
};
pub const SSHD_EMPTY_PASSWORDS: Check = Check {
    id: "CFG-019",
    severity: Severity::High,
    remediation: "Set `PermitEmptyPasswords no` (the default) in sshd_config.",
};
pub const SUDO_NOPASSWD: Check = Check {
    id: "CFG-020",
    severity: Severity::Medium,
    remediation: "Remove the NOPASSWD tag (or `!authenticate`) and, in a container, sudo altogether: a process \
that may become root without a password makes running as a non-root user pointless.",
};

/// Every check, in id order.
pub const ALL: &[&Check] = &[
    &ROOT_USER,
    &SECRET_IN_ENV,
    &SECRET_IN_LABEL,
    &SECRET_IN_HISTORY,
    &CREDENTIAL_VARIABLE,
    &ADD_REMOTE_URL,
    &PIPE_TO_SHELL,
    &PACKAGE_CACHE,
    &NO_HEALTHCHECK,
    &SSH_PORT,
    &PRIVATE_KEY_FILE,
    &AWS_CREDENTIALS_FILE,
    &NPM_TOKEN_FILE,
    &DOCKER_AUTH_FILE,
    &EMPTY_PASSWORD,
    &EXTRA_UID0,
    &SSHD_ROOT_LOGIN,
    &SSHD_PASSWORD_AUTH,
    &SSHD_EMPTY_PASSWORDS,
    &SUDO_NOPASSWD,
];

/// Where a finding came from: a file of the image, a history step, or the config itself.
pub enum Origin<'a> {
    Config,
    File(&'a str),
    History(usize),
}

impl Check {
    pub fn finding(&self, origin: Origin<'_>, title: String, description: String) -> Finding {
        let (path, history_index) = match origin {
            Origin::Config => (None, None),
            Origin::File(p) => (Some(p.to_string()), None),
            Origin::History(i) => (None, u32::try_from(i).ok()),
        };
        Finding::Issue(Issue {
            id: self.id.to_string(),
            severity: self.severity,
            title,
            description,
            remediation: Some(self.remediation.to_string()),
            path,
            history_index,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn severity_name(s: Severity) -> &'static str {
        match s {
            Severity::Unknown => "UNKNOWN",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }

    #[test]
    fn ids_are_sequential_and_unique() {
        for (i, check) in ALL.iter().enumerate() {
            assert_eq!(check.id, format!("CFG-{:03}", i + 1));
        }
    }

    /// docs/checks.md has a `## CFG-NNN: ...` heading per check and states its severity on the
    /// next `Severity:` line.
    #[test]
    fn catalogue_documents_every_check() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/checks.md");
        let doc = std::fs::read_to_string(path).expect("docs/checks.md");
        let mut documented = Vec::new();
        let mut lines = doc.lines();
        while let Some(line) = lines.next() {
            let Some(rest) = line.strip_prefix("## ").filter(|r| r.starts_with("CFG-")) else { continue };
            let id = rest.split(':').next().unwrap_or_default().to_string();
            let severity = lines
                .by_ref()
                .find_map(|l| l.strip_prefix("Severity: **"))
                .and_then(|s| s.split("**").next())
                .unwrap_or_default()
                .to_string();
            documented.push((id, severity));
        }
        let expected: Vec<(String, String)> =
            ALL.iter().map(|c| (c.id.to_string(), severity_name(c.severity).to_string())).collect();
        assert_eq!(documented, expected);
    }
}
