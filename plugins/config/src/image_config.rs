//! Checks on the image config (`config.User`, `Env`, `Labels`, `ExposedPorts`, `Healthcheck`) and
//! on its build history (`history[].created_by`).
//!
//! History steps are recognized in the forms builders record them: BuildKit writes the
//! instruction as written (`ADD https://... /x # buildkit`, `RUN /bin/sh -c ... # buildkit`,
//! `RUN |2 A=1 B=2 /bin/sh -c ...` when build args were in scope), the classic builder writes
//! `/bin/sh -c #(nop)  ADD ...` for non-RUN instructions and `[|N K=V ...] /bin/sh -c CMD` for RUN.

use crate::checks::{self, Origin};
use crate::secrets::{self, Secret};
use ecr_plugin_kit::Finding;
use serde_json::Value;

/// At most this many entries of each list (Env, Labels, history) are examined.
pub const MAX_ENTRIES: usize = 10_000;
/// Names and values quoted in findings are cut to this many characters.
const SHOWN: usize = 100;

/// The parts of an image config the checks read.
#[derive(Debug, Default)]
pub struct ImageConfig {
    /// False when the target has no config at all (an unpacked root filesystem): nothing to check.
    pub present: bool,
    pub user: String,
    pub env: Vec<(String, String)>,
    pub labels: Vec<(String, String)>,
    pub exposed_ports: Vec<String>,
    /// `Healthcheck.Test`, empty when there is none.
    pub healthcheck: Vec<String>,
    /// `created_by` of every history entry (empty for entries without one), in order.
    pub history: Vec<String>,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().take(MAX_ENTRIES).map(|s| s.as_str().unwrap_or_default().to_string()).collect())
        .unwrap_or_default()
}

fn keys(v: Option<&Value>) -> Vec<(String, String)> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter().take(MAX_ENTRIES).map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect()
        })
        .unwrap_or_default()
}

/// Reads the config JSON the host passes (`"{}"` for a root filesystem). Fields of an unexpected
/// type are treated as absent; only JSON that does not parse is an error.
pub fn parse(json: &str) -> Result<ImageConfig, String> {
    let root: Value = serde_json::from_str(json).map_err(|e| format!("the image config is not valid JSON: {e}"))?;
    let Some(top) = root.as_object() else {
        return Err("the image config is not a JSON object".to_string());
    };
    if top.is_empty() {
        return Ok(ImageConfig::default());
    }
    let c = top.get("config");
    let get = |k: &str| c.and_then(|c| c.get(k));
    let env = strings(get("Env"))
        .into_iter()
        .filter_map(|e| e.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect();
    let history = top
        .get("history")
        .and_then(Value::as_array)
        .map(|h| {
            h.iter()
                .take(MAX_ENTRIES)
                .map(|e| e.get("created_by").and_then(Value::as_str).unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    Ok(ImageConfig {
        present: true,
        user: get("User").and_then(Value::as_str).unwrap_or_default().to_string(),
        env,
        labels: keys(get("Labels")),
        exposed_ports: keys(get("ExposedPorts")).into_iter().map(|(k, _)| k).collect(),
        healthcheck: strings(get("Healthcheck").and_then(|h| h.get("Test"))),
        history,
    })
}

/// A uid looked up in the image's /etc/passwd.
pub type UidLookup<'a> = &'a dyn Fn(&str) -> Option<u32>;

/// All config and history findings.
pub fn check(config: &ImageConfig, uid_of: UidLookup<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    if !config.present {
        return out;
    }
    root_user(config, uid_of, &mut out);
    for (name, value) in &config.env {
        let hits = dedup(value, secrets::in_assignment(name, value));
        let shown_name = secrets::redact(name, SHOWN);
        if hits.is_empty() && secrets::credential_name(name) && secrets::literal_value(value) {
            out.push(checks::CREDENTIAL_VARIABLE.finding(
                Origin::Config,
                format!("Environment variable {shown_name} looks like a credential"),
                format!(
                    "The image config sets {shown_name} to a literal value (hidden here). Its name says it \
                     holds a credential, and anyone who can pull the image can read it with `docker inspect`."
                ),
            ));
        }
        for s in hits {
            out.push(checks::SECRET_IN_ENV.finding(
                Origin::Config,
                format!("{} in environment variable {shown_name}", s.kind),
                format!(
                    "The image config sets {shown_name} to a value with the format of a {kind} ({shown}). \
                     Anyone who can pull the image reads it with `docker inspect`, and every container \
                     starts with it in its environment.",
                    kind = s.kind,
                    shown = s.shown
                ),
            ));
        }
    }
    for (name, value) in &config.labels {
        let shown_name = secrets::redact(name, SHOWN);
        for s in dedup(value, secrets::in_assignment(name, value)) {
            out.push(checks::SECRET_IN_LABEL.finding(
                Origin::Config,
                format!("{} in label {shown_name}", s.kind),
                format!(
                    "The image label {shown_name} holds a value with the format of a {kind} ({shown}). Labels \
                     are public metadata: registries, `docker inspect` and image indexes show them.",
                    kind = s.kind,
                    shown = s.shown
                ),
            ));
        }
    }
    healthcheck(config, &mut out);
    for port in &config.exposed_ports {
        if port == "22" || port.eq_ignore_ascii_case("22/tcp") {
            out.push(
                checks::SSH_PORT.finding(
                    Origin::Config,
                    "SSH port 22 is exposed".to_string(),
                    "The image declares `EXPOSE 22`, which suggests an SSH server runs in the container: an \
                 extra remote login path with its own credentials to manage and attack."
                        .to_string(),
                ),
            );
        }
    }
    for (index, created_by) in config.history.iter().enumerate() {
        history_step(index, created_by, &mut out);
    }
    out
}

/// One finding per distinct secret value in `text`.
fn dedup(text: &str, hits: Vec<Secret>) -> Vec<Secret> {
    let mut seen: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for s in hits {
        let value = text.get(s.start..s.end).unwrap_or_default();
        if !seen.contains(&value) {
            seen.push(value);
            out.push(s);
        }
    }
    out
}

fn root_user(config: &ImageConfig, uid_of: UidLookup<'_>, out: &mut Vec<Finding>) {
    let spec = config.user.trim();
    let user = spec.split(':').next().unwrap_or_default().trim();
    let why = if user.is_empty() {
        "The image config sets no user, so containers run as root (uid 0) unless the runtime overrides it.".to_string()
    } else if user == "root" || user.parse::<u32>() == Ok(0) {
        format!("The image config sets the user to `{}`, which is root (uid 0).", secrets::redact(spec, SHOWN))
    } else if uid_of(user) == Some(0) {
        format!(
            "The image config sets the user to `{}`, an account with uid 0 (root) in /etc/passwd.",
            secrets::redact(spec, SHOWN)
        )
    } else {
        return;
    };
    out.push(checks::ROOT_USER.finding(
        Origin::Config,
        "Image runs as root".to_string(),
        format!(
            "{why} A process that escapes the application (or the container) starts with full privileges \
             over the container's files and, with a weak runtime configuration, the host."
        ),
    ));
}

fn healthcheck(config: &ImageConfig, out: &mut Vec<Finding>) {
    let test = &config.healthcheck;
    let disabled = test.first().is_some_and(|t| t == "NONE");
    if !test.is_empty() && !disabled {
        return;
    }
    let why = if disabled {
        "The image disables its health check (`HEALTHCHECK NONE`)"
    } else {
        "The image has no HEALTHCHECK"
    };
    out.push(checks::NO_HEALTHCHECK.finding(
        Origin::Config,
        "No HEALTHCHECK".to_string(),
        format!(
            "{why}, so Docker and ECS cannot tell a hung service from a healthy one and will not restart or \
             replace it."
        ),
    ));
}

/// A history step split into its Dockerfile instruction (upper-cased) and arguments.
fn instruction(created_by: &str) -> (String, &str) {
    let s = created_by.trim();
    let s = s.strip_suffix("# buildkit").unwrap_or(s).trim_end();
    if let Some(rest) = s.strip_prefix("/bin/sh -c #(nop)") {
        let rest = rest.trim_start();
        let (word, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        return (word.to_ascii_uppercase(), args.trim_start());
    }
    let (word, args) = s.split_once(char::is_whitespace).unwrap_or((s, ""));
    const KEYWORDS: &[&str] = &[
        "RUN",
        "ADD",
        "COPY",
        "ENV",
        "ARG",
        "USER",
        "EXPOSE",
        "LABEL",
        "WORKDIR",
        "CMD",
        "ENTRYPOINT",
        "VOLUME",
        "HEALTHCHECK",
        "SHELL",
        "STOPSIGNAL",
        "ONBUILD",
        "MAINTAINER",
    ];
    if KEYWORDS.contains(&word) {
        (word.to_string(), args.trim_start())
    } else {
        // The classic builder records a RUN step as the bare command.
        ("RUN".to_string(), s)
    }
}

/// Splits `|N K=V ... rest` (build args in scope of a RUN step) into the assignments and the rest.
fn build_args(args: &str) -> (Vec<(&str, &str)>, &str) {
    let Some(after) = args.strip_prefix('|') else { return (Vec::new(), args) };
    let digits = after.bytes().take_while(u8::is_ascii_digit).count();
    let Ok(n) = after.get(..digits).unwrap_or_default().parse::<usize>() else { return (Vec::new(), args) };
    let mut rest = after.get(digits..).unwrap_or_default();
    let mut out = Vec::new();
    for _ in 0..n.min(MAX_ENTRIES) {
        rest = rest.trim_start();
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let (word, tail) = rest.split_at(end);
        if let Some(kv) = word.split_once('=') {
            out.push(kv);
        }
        rest = tail;
    }
    (out, rest.trim_start())
}

fn history_step(index: usize, created_by: &str, out: &mut Vec<Finding>) {
    let (keyword, args) = instruction(created_by);
    let step = format!("History step {index} ({keyword})");
    let found = dedup(created_by, secrets::find(created_by));
    for s in &found {
        out.push(checks::SECRET_IN_HISTORY.finding(
            Origin::History(index),
            format!("{} in build step {index}", s.kind),
            format!(
                "{step} contains a value with the format of a {kind} ({shown}). `docker history` shows build \
                 steps to anyone who can pull the image, whatever later steps do.",
                kind = s.kind,
                shown = s.shown
            ),
        ));
    }
    let assignments: Vec<(&str, &str)> = match keyword.as_str() {
        "RUN" => build_args(args).0,
        "ARG" => args.split_whitespace().filter_map(|a| a.split_once('=')).collect(),
        _ => Vec::new(),
    };
    for (name, value) in assignments {
        // A value holding a secret of a known format was reported above, from the whole step.
        let reported = found.iter().any(|s| created_by.get(s.start..s.end).is_some_and(|v| value.contains(v)));
        if !reported && secrets::credential_name(name) && secrets::literal_value(value) {
            let shown_name = secrets::redact(name, SHOWN);
            out.push(checks::CREDENTIAL_VARIABLE.finding(
                Origin::History(index),
                format!("Build argument {shown_name} looks like a credential"),
                format!(
                    "{step} records the build argument {shown_name} with a literal value (hidden here). Build \
                     arguments used by a RUN step are written into the image history, which `docker history` \
                     shows to anyone who can pull the image."
                ),
            ));
        }
    }
    match keyword.as_str() {
        "ADD" => add_remote(index, args, out),
        "RUN" => {
            if let Some(url) = pipe_to_shell(shell_command(build_args(args).1)) {
                out.push(checks::PIPE_TO_SHELL.finding(
                    Origin::History(index),
                    format!("Build step {index} pipes a download into a shell"),
                    format!(
                        "{step} downloads {url} and runs it with a shell or interpreter without checking it. \
                         Whoever controls that server (or the network path to it) controls what the build \
                         runs as root."
                    ),
                ));
            }
        }
        _ => {}
    }
}

fn is_url(word: &str) -> bool {
    let lower = word.get(..8).unwrap_or(word).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

fn add_remote(index: usize, args: &str, out: &mut Vec<Finding>) {
    let words: Vec<&str> = args
        .split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']')
        .map(|w| w.trim_matches('"'))
        .filter(|w| !w.is_empty())
        .collect();
    if words.iter().any(|w| w.starts_with("--checksum=")) {
        return;
    }
    let operands: Vec<&str> = words.into_iter().filter(|w| !w.starts_with("--")).collect();
    let sources = operands.split_last().map_or(&[][..], |(_, s)| s);
    for url in sources.iter().filter(|w| is_url(w)) {
        out.push(checks::ADD_REMOTE_URL.finding(
            Origin::History(index),
            format!("Build step {index} ADDs a remote URL"),
            format!(
                "History step {index} (ADD) downloads {} without a checksum: the image gets whatever the server \
                 returned at build time, unverified and not reproducible.",
                secrets::shown_url(url)
            ),
        ));
    }
}

/// The first word of a simple command, past variable assignments and wrappers such as `sudo -E`.
fn command_name<'a>(words: &mut impl Iterator<Item = &'a str>) -> Option<String> {
    const WRAPPERS: &[&str] = &["sudo", "env", "exec", "command", "nohup", "time", "busybox"];
    for w in words.by_ref() {
        let w = w.trim_start_matches(['(', '{']).trim_matches(['"', '\'']);
        if w.is_empty() || w.starts_with('-') || (w.contains('=') && !w.starts_with('=')) {
            continue;
        }
        let name = w.rsplit('/').next().unwrap_or(w);
        if !WRAPPERS.contains(&name) {
            return Some(name.to_string());
        }
    }
    None
}

fn is_shell(name: &str) -> bool {
    matches!(name, "sh" | "bash" | "dash" | "ash" | "zsh" | "ksh")
}

/// The command of a RUN step: `/bin/sh -c CMD` (or the SHELL's `/bin/bash -o pipefail -c CMD`)
/// gives CMD; anything else is returned as is.
fn shell_command(run: &str) -> &str {
    let run = run.trim_start();
    let Some((first, mut rest)) = run.split_once(char::is_whitespace) else { return run };
    if !is_shell(first.rsplit('/').next().unwrap_or(first)) {
        return run;
    }
    loop {
        rest = rest.trim_start();
        let (flag, tail) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        if !(flag.starts_with('-') || flag.starts_with('+')) {
            return run;
        }
        rest = tail;
        if flag == "-o" || flag == "+o" {
            rest = rest.trim_start().split_once(char::is_whitespace).map_or("", |(_, t)| t);
        } else if flag.starts_with('-') && flag.contains('c') {
            return rest.trim_start();
        }
    }
}

fn is_interpreter(name: &str) -> bool {
    is_shell(name)
        || matches!(name, "perl" | "ruby" | "node")
        || name.strip_prefix("python").is_some_and(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

fn is_downloader(name: &str) -> bool {
    name == "curl" || name == "wget"
}

/// The shown URL (or "a remote script") when a shell command pipes `curl`/`wget` output into an
/// interpreter (`curl URL | sh`, `wget -O- URL | sudo bash -s`, `curl URL | python3 -`) or runs
/// one on a download (`sh -c "$(curl URL)"`, `bash <(curl URL)`). Best effort: the command is
/// split on `;`, `&&`, `||` and newlines, then on `|`, without a full shell parser.
pub fn pipe_to_shell(command: &str) -> Option<String> {
    let command = command.get(..secrets::MAX_SCAN_BYTES).unwrap_or(command);
    let url_in = |text: &str| {
        text.split_whitespace()
            .map(|w| w.trim_matches(['"', '\'', '(', ')']))
            .find(|w| is_url(w))
            .map_or_else(|| "a remote script".to_string(), secrets::shown_url)
    };
    let flat = command.replace("||", ";").replace("&&", ";");
    for list in flat.split([';', '\n']) {
        let stages: Vec<&str> = list.split('|').collect();
        let mut downloaded: Option<&str> = None;
        for stage in &stages {
            let name = command_name(&mut stage.split_whitespace()).unwrap_or_default();
            if is_downloader(&name) {
                downloaded = Some(stage);
            } else if is_interpreter(&name) {
                if let Some(d) = downloaded {
                    return Some(url_in(d));
                }
                let squeezed: String = stage.chars().filter(|c| !c.is_whitespace()).collect();
                if ["$(curl", "$(wget", "<(curl", "<(wget", "`curl", "`wget"].iter().any(|p| squeezed.contains(p)) {
                    return Some(url_in(stage));
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use ecr_plugin_kit::Issue;

    fn issues(findings: &[Finding]) -> Vec<&Issue> {
        findings
            .iter()
            .filter_map(|f| match f {
                Finding::Issue(i) => Some(i),
                _ => None,
            })
            .collect()
    }

    fn no_uid(_: &str) -> Option<u32> {
        None
    }

    fn run(json: &str) -> Vec<(String, Option<u32>, String)> {
        let config = parse(json).unwrap();
        let found = check(&config, &no_uid);
        issues(&found).iter().map(|i| (i.id.clone(), i.history_index, i.title.clone())).collect()
    }

    fn clean(extra: &str) -> String {
        format!(
            "{{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{{\"User\":\"1000\",\
             \"Healthcheck\":{{\"Test\":[\"CMD\",\"true\"]}}{extra}}},\"history\":[]}}"
        )
    }

    fn history(steps: &[&str]) -> String {
        let entries: Vec<String> = steps.iter().map(|s| serde_json::json!({ "created_by": s }).to_string()).collect();
        format!(
            "{{\"config\":{{\"User\":\"app\",\"Healthcheck\":{{\"Test\":[\"CMD\",\"true\"]}}}},\"history\":[{}]}}",
            entries.join(",")
        )
    }

    fn ids(found: &[(String, Option<u32>, String)]) -> Vec<(&str, Option<u32>)> {
        found.iter().map(|(id, h, _)| (id.as_str(), *h)).collect()
    }

    #[test]
    fn rootfs_has_no_config_to_check() {
        assert!(run("{}").is_empty());
        assert!(run(&clean("")).is_empty());
        assert!(parse("[1]").is_err());
        assert!(parse("{").is_err());
    }

    #[test]
    fn root_user_forms() {
        for user in ["", "root", "0", "0:0", "root:staff", " 0 "] {
            let json = clean("").replace("\"1000\"", &serde_json::to_string(user).unwrap());
            assert_eq!(ids(&run(&json)), [("CFG-001", None)], "{user:?}");
        }
        for user in ["1000", "app", "1000:0", "nobody"] {
            let json = clean("").replace("\"1000\"", &serde_json::to_string(user).unwrap());
            assert!(run(&json).is_empty(), "{user:?}");
        }
        let toor = clean("").replace("\"1000\"", "\"toor\"");
        let found = check(&parse(&toor).unwrap(), &|n: &str| (n == "toor").then_some(0));
        assert_eq!(issues(&found)[0].id, "CFG-001");
        // No config object at all (allowed by the OCI spec): root, no health check.
        assert_eq!(ids(&run("{\"os\":\"linux\"}")), [("CFG-001", None), ("CFG-009", None)]);
    }

    #[test]
    fn healthcheck_and_port() {
        let none = clean("").replace("[\"CMD\",\"true\"]", "[\"NONE\"]");
        assert_eq!(run(&none)[0].0, "CFG-009");
        assert!(run(&none)[0].2.contains("HEALTHCHECK"));
        let ports = clean(",\"ExposedPorts\":{\"22/tcp\":{},\"8080/tcp\":{},\"2222/tcp\":{}}");
        assert_eq!(ids(&run(&ports)), [("CFG-010", None)]);
    }

    #[test]
    fn env_and_label_secrets_are_redacted() {
        let token = format!("ghp_{}", "Ab1".repeat(12));
        let json = clean(&format!(
            ",\"Env\":[\"PATH=/usr/bin\",\"GH={token}\",\"DB_PASSWORD=hunter22\",\"ALLOW_EMPTY_PASSWORD=yes\",\
             \"GPG_KEY=A4A9406876FCBD3C456770C88C718D3B5072E1F5\",\"NOEQUALS\"],\
             \"Labels\":{{\"ci.token\":\"{token}\",\"version\":\"1\"}}"
        ));
        let found = check(&parse(&json).unwrap(), &no_uid);
        let got: Vec<(&str, &str)> = issues(&found).iter().map(|i| (i.id.as_str(), i.title.as_str())).collect();
        assert_eq!(
            got,
            [
                ("CFG-002", "GitHub token in environment variable GH"),
                ("CFG-005", "Environment variable DB_PASSWORD looks like a credential"),
                ("CFG-003", "GitHub token in label ci.token"),
            ]
        );
        for i in issues(&found) {
            let all = format!("{}{}{:?}", i.title, i.description, i.remediation);
            assert!(!all.contains(&token) && !all.contains("hunter22"), "{all}");
        }
        assert!(issues(&found)[0].description.contains("(ghp_…)"));
    }

    #[test]
    fn history_secrets_and_build_args() {
        let token = format!("npm_{}", "z9".repeat(18));
        let aws = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKE";
        let found = run(&history(&[
            "/bin/sh -c #(nop) ADD file:abc in / ",
            &format!(
                "RUN /bin/sh -c echo //registry.npmjs.org/:_authToken={token} > ~/.npmrc && echo {token} # buildkit"
            ),
            "ARG NPM_PASSWORD=s3cret",
            "|2 API_TOKEN=abc123 LEVEL=3 /bin/sh -c make",
            &format!("RUN |1 AWS_SECRET_ACCESS_KEY={aws} /bin/sh -c true # buildkit"),
            "ENV DB_PASSWORD=x1",
        ]));
        assert_eq!(
            ids(&found),
            [("CFG-004", Some(1)), ("CFG-005", Some(2)), ("CFG-005", Some(3)), ("CFG-004", Some(4))]
        );
        assert_eq!(found[0].2, "npm access token in build step 1");
        // The AWS secret is matched in the whole step (`AWS_SECRET_ACCESS_KEY=` context) and not
        // reported again as a credential-like build argument.
        assert_eq!(found[3].2, "AWS secret access key in build step 4");
    }

    #[test]
    fn add_remote_url() {
        let found = run(&history(&[
            "ADD https://user:pw@example.com/app.tgz?sig=1 /opt/ # buildkit",
            "ADD --checksum=sha256:abc https://example.com/x.tgz /x # buildkit",
            "/bin/sh -c #(nop) ADD file:0123 in /",
            "COPY https://example.com/x /x",
            "ADD --chown=1:1 [\"http://example.com/a\", \"/dst\"]",
            "/bin/sh -c #(nop) ADD https://example.com/y.tgz /y",
        ]));
        assert_eq!(ids(&found), [("CFG-006", Some(0)), ("CFG-006", Some(4)), ("CFG-006", Some(5))]);
        let config = parse(&history(&["ADD https://user:pw@example.com/app.tgz?sig=1 /opt/"])).unwrap();
        let f = check(&config, &no_uid);
        let d = &issues(&f)[0].description;
        assert!(d.contains("https://example.com/app.tgz ") && !d.contains("pw") && !d.contains("sig"), "{d}");
    }

    #[test]
    fn shell_command_strips_the_shell() {
        assert_eq!(shell_command("/bin/sh -c curl x | sh"), "curl x | sh");
        assert_eq!(shell_command("/bin/bash -o pipefail -c make all"), "make all");
        assert_eq!(shell_command("/bin/sh -ec true"), "true");
        assert_eq!(shell_command("bash script.sh"), "bash script.sh");
        assert_eq!(shell_command("/bin/sh -o"), "/bin/sh -o");
        assert_eq!(shell_command("make"), "make");
    }

    #[test]
    fn pipe_to_shell_forms() {
        for (cmd, url) in [
            ("curl -fsSL https://get.example.com/install.sh | sh", "https://get.example.com/install.sh"),
            ("apt-get update && wget -qO- http://x.example/i | sudo -E bash -s -- -y", "http://x.example/i"),
            ("curl -sSL https://install.python-poetry.org | python3 -", "https://install.python-poetry.org"),
            ("sh -c \"$(curl -fsSL https://example.com/a.sh)\"", "https://example.com/a.sh"),
            ("bash <(curl -s https://example.com/b)", "https://example.com/b"),
            ("curl $URL | /bin/sh", "a remote script"),
        ] {
            assert_eq!(pipe_to_shell(cmd).as_deref(), Some(url), "{cmd}");
        }
        for cmd in [
            "curl -o /tmp/x https://example.com/x && sh /tmp/x",
            "curl https://example.com/x | tar xz",
            "curl https://example.com/x || sh -c 'echo failed'",
            "echo curl | grep sh",
            "cat x | sh",
            "curl https://example.com | shasum",
        ] {
            assert_eq!(pipe_to_shell(cmd), None, "{cmd}");
        }
        let found = run(&history(&[
            "RUN /bin/sh -c curl -fsSL https://get.example.com | bash # buildkit",
            "|1 V=2 /bin/sh -c wget -O- https://x.example/s | sh",
        ]));
        assert_eq!(ids(&found), [("CFG-007", Some(0)), ("CFG-007", Some(1))]);
    }

    #[test]
    fn hostile_configs_do_not_panic() {
        let deep = "[".repeat(100_000);
        assert!(parse(&deep).is_err());
        let odd = "{\"config\":{\"User\":5,\"Env\":{\"a\":1},\"Labels\":[1],\"ExposedPorts\":\"22\",\
                   \"Healthcheck\":{\"Test\":\"x\"}},\"history\":[{\"created_by\":7},{},\"x\"]}";
        assert_eq!(ids(&run(odd)), [("CFG-001", None), ("CFG-009", None)]);
        let huge = history(&[&format!("|99999999999999999999 {}", "a=b ".repeat(1000)), "|", "|5", "ADD", "RUN"]);
        let _ = run(&huge);
        let steps = vec!["RUN x"; MAX_ENTRIES + 5];
        let many = history(&steps);
        assert_eq!(parse(&many).unwrap().history.len(), MAX_ENTRIES);
    }
}
